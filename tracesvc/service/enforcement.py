"""What inspectors and regulators read and decide: code histories, flags and their review, return
chains, suspects, and the evidence behind a flag or a party. Every read here is evidence: each
call is written to the audit log (who, what, when) before it is answered."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.rules.model import BuyerEvents
from reconciler.store.buyers import load_buyer_events
from reconciler.store.findings import (
    FlagFilter,
    all_flags_of_party,
    chain_of_flag,
    flag_ids_with_prefix,
    get_flag,
    list_chains,
    list_flags,
)
from reconciler.store.suspects import SuspectRole, SuspectRow, rank_suspects
from tracesvc.domain import codes, privacy
from tracesvc.domain.codes import product_key_of
from tracesvc.domain.events import Event, Violation
from tracesvc.domain.registry import Party, Product
from tracesvc.service.access import Principal
from tracesvc.service.errors import FailedPrecondition, InvalidArgument, NotFound
from tracesvc.store import history
from tracesvc.store import keys as key_store
from tracesvc.store.db import pg
from tracesvc.store.findings import ChainRow, FlagRow, ReviewRow, review_flags, reviews_of
from tracesvc.store.history import HistoryRow, PartySummary
from tracesvc.store.registry import RegistryCache, load_parties


class Decision(StrEnum):
    """A reviewer's decision on a flag (the flag's status afterwards)."""

    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"


class Subject(StrEnum):
    """What ExportEvidence collects around."""

    FLAG = "flag"
    PARTY = "party"


@dataclass(frozen=True)
class CodeHistory:
    canonical: str
    entries: list[HistoryRow]
    parties: dict[str, PartySummary]
    product: Product | None


@dataclass(frozen=True)
class Standing:
    """A party's licence standing at the time of an event it took part in."""

    party_id: str
    at: datetime
    event_id: str
    licence_status: str  # ACTIVE, SUSPENDED, REVOKED, or NONE (no licence valid then, or party unknown)

    @property
    def licensed(self) -> bool:
        return self.licence_status == "ACTIVE"


@dataclass(frozen=True)
class Purchase:
    """Rule B: one sale in the purchase timeline of a flag's buyer — when (`sale.occurred_at`), where
    (`party`, with its region), what and how much (`sale.lines`). The buyer appears as its token only."""

    flag_id: str
    buyer_token: str
    sale: Event
    party: PartySummary
    refunded: bool  # a SALE_RETURN names it: OVER_SUPPLY and MULTI_PHARMACY do not count it
    evidence: bool  # cited by the flag
    decisive: bool


@dataclass(frozen=True)
class Travel:
    """Rule B CARD_TRAVEL: the card at two places in different provinces, and the time between them."""

    flag_id: str
    buyer_token: str
    earlier: Event
    earlier_party: PartySummary
    later: Event
    later_party: PartySummary

    @property
    def seconds_between(self) -> int:
        return int((self.later.occurred_at - self.earlier.occurred_at).total_seconds())


EvidenceItem = FlagRow | ChainRow | Purchase | Travel | Event | Party | Standing | Product
FLAG_ID_LENGTH = 32  # hex digits of a flag id (reconciler.store.sync.flag_id)
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{6,31}")
_NO_CODE_RULES = ("S", "B")  # flags whose code field is no trace code (a sale's lines; an insurance code)


def buyer_timeline(flag: FlagRow, bought: BuyerEvents, parties: dict[str, PartySummary]) -> list[Purchase]:
    """The buyer's sales from the flag's first evidence up to its decisive sale, in (occurred_at, event_id)
    order: every sale in that span (any drug, refunded or not), marked as the flag cites it."""
    sales = sorted(bought.sales, key=lambda e: (e.occurred_at, e.event_id))
    cited = set(flag.evidence) | {flag.decisive_event_id}
    keys = [(e.occurred_at, e.event_id) for e in sales if e.event_id in cited]
    if not keys:
        return []
    first, last = min(keys), (flag.decisive_at, flag.decisive_event_id)
    refunded = {(r.party_id, r.sale_id) for r in bought.refunds}
    return [
        Purchase(
            flag.flag_id,
            flag.buyer_token or "",
            e,
            parties.get(e.party_id) or PartySummary(e.party_id, "", "", ""),
            (e.party_id, e.sale_id) in refunded,
            e.event_id in cited,
            e.event_id == flag.decisive_event_id,
        )
        for e in sales
        if first <= (e.occurred_at, e.event_id) <= last
    ]


def card_travels(flag: FlagRow, timeline: Sequence[Purchase]) -> list[Travel]:
    """CARD_TRAVEL: each earlier sale the flag cites, paired with the decisive sale (its two places)."""
    if flag.kind != "CARD_TRAVEL":
        return []
    decisive = next((p for p in timeline if p.decisive), None)
    if decisive is None:
        return []
    return [
        Travel(flag.flag_id, flag.buyer_token or "", p.sale, p.party, decisive.sale, decisive.party)
        for p in timeline
        if p.evidence and not p.decisive
    ]


def standing_at(party: Party | None, party_id: str, event: Event) -> Standing:
    status = "NONE"
    if party is not None:
        statuses = [s for s in (lic.status_at(event.occurred_at) for lic in party.licences) if s is not None]
        if statuses:
            status = "ACTIVE" if any(s.value == "ACTIVE" for s in statuses) else statuses[0].value
    return Standing(party_id, event.occurred_at, event.event_id, status)


class Enforcement:
    def __init__(self, engine: AsyncEngine, hmac_key: bytes, registry: RegistryCache) -> None:
        self._engine = engine
        self._key = hmac_key
        self._registry = registry

    async def audit(self, who: Principal, method: str, target: str, detail: str = "") -> None:
        """Record one read of evidence (who, what, when); targets are ids and tokens, never clear identifiers."""
        await key_store.audit(self._engine, who.key_id, who.role.value, method, target[:500], detail=detail[:2000])

    async def code_history(self, who: Principal, raw_code: str) -> CodeHistory:
        await self._registry.refresh()
        try:
            parsed = codes.parse(raw_code, self._registry.manufacturer_prefixes)
        except codes.CodeError as exc:
            raise InvalidArgument(str(exc), [Violation("code", exc.reason)]) from exc
        await self.audit(who, "GetCodeHistory", f"code:{parsed.canonical}")
        async with pg(self._engine) as conn:
            entries = await history.code_history(conn, parsed.canonical)
            parties = await history.party_summaries(conn, {p for e in entries for p in (e.party_id, e.counterparty_id)})
        product = self._registry.product(getattr(parsed, "product_key", ""))
        return CodeHistory(parsed.canonical, entries, parties, product)

    async def list_flags(self, who: Principal, filt: FlagFilter, after_seq: int, limit: int) -> list[FlagRow]:
        """Up to `limit` flags after `after_seq` (ask for one more than a page to know if another follows)."""
        # the flags of one case are a read of that case (ListCaseReads shows it)
        await self.audit(who, "ListFlags", f"case:{filt.case_id}" if filt.case_id else "flags", str(filt))
        async with pg(self._engine) as conn:
            return await list_flags(conn, filt, after_seq, limit)

    async def flag_id(self, given: str) -> str:
        """A flag's id from the id or a unique prefix of it (at least 6 hex digits), as people copy
        them from reports (`74f9fb71…`); NotFound when none starts so, InvalidArgument when several do."""
        given = given.strip().removesuffix("…").removesuffix("...")
        if len(given) >= FLAG_ID_LENGTH or not _HEX_PREFIX.fullmatch(given):
            return given
        async with pg(self._engine) as conn:
            found = await flag_ids_with_prefix(conn, given)
        if not found:
            raise NotFound(f"no flag {given}")
        if len(found) > 1:
            raise InvalidArgument(
                f"{given} is the start of several flags' ids", [Violation("flag_id", "give more of the id")]
            )
        return found[0]

    async def get_flag(self, who: Principal, flag_id: str) -> FlagRow:
        flag_id = await self.flag_id(flag_id)
        await self.audit(who, "GetFlag", f"flag:{flag_id}")
        async with pg(self._engine) as conn:
            row = await get_flag(conn, flag_id)
        if row is None:
            raise NotFound(f"no flag {flag_id}")
        return row

    async def review_history(self, who: Principal, flag_id: str) -> list[ReviewRow]:
        """Every review of a flag, oldest first, from the audit lines each review wrote."""
        async with pg(self._engine) as conn:
            return await reviews_of(conn, flag_id)

    async def review_flag(self, who: Principal, flag_id: str, decision: Decision | None, note: str) -> FlagRow:
        violations = []
        if decision is None:
            violations.append(Violation("decision", "CONFIRM or DISMISS"))
        if decision is Decision.DISMISSED and not note:
            violations.append(Violation("note", "a dismissal needs a note saying why"))
        if violations or decision is None:
            raise InvalidArgument("invalid review", violations)
        flag_id = await self.flag_id(flag_id)
        async with pg(self._engine) as conn:
            async with conn.transaction():
                reviewed = await review_flags(
                    conn,
                    [flag_id],
                    status=decision.value,
                    note=note,
                    reviewer=who.key_id,
                    role=who.role.value,
                    method="ReviewFlag",
                )
            existing = await get_flag(conn, flag_id) if not reviewed else None
        if reviewed:
            return reviewed[0]
        if existing is None:
            raise NotFound(f"no flag {flag_id}")
        raise FailedPrecondition(f"flag {flag_id} was resolved by later evidence: {existing.resolved_reason}")

    async def list_chains(
        self,
        who: Principal,
        *,
        code: str = "",
        party_id: str = "",
        buyer_token: str = "",
        buyer_id: str = "",
        include_inactive: bool = False,
        after: str = "",
        limit: int = 100,
    ) -> list[ChainRow]:
        """Chains by code, party or buyer; a buyer given by number is hashed here and audited as its token."""
        token = buyer_token.lower()
        if buyer_id:
            token = privacy.buyer_token(self._key, buyer_id)
        target = (
            ", ".join(f"{k}:{v}" for k, v in (("code", code), ("party", party_id), ("buyer", token)) if v) or "chains"
        )
        await self.audit(who, "ListReturnChains", target, "person lookup by number" if buyer_id else "")
        async with pg(self._engine) as conn:
            return await list_chains(
                conn,
                code=code,
                party_id=party_id,
                buyer_token=token,
                include_inactive=include_inactive,
                after=after,
                limit=limit,
            )

    async def rank_suspects(self, who: Principal, role: SuspectRole, limit: int) -> list[SuspectRow]:
        await self.audit(who, "RankSuspects", f"role:{role.value}")
        async with pg(self._engine) as conn:
            return await rank_suspects(conn, role, limit)

    async def export_evidence(self, who: Principal, subject: Subject, subject_id: str) -> AsyncIterator[EvidenceItem]:
        """Everything behind a flag or a party, in the order an inspector files it: flags, chains,
        events (occurred_at order), parties, licence standing at each event, products."""
        if subject is Subject.FLAG:
            subject_id = await self.flag_id(subject_id)
        await self.audit(who, "ExportEvidence", f"{subject.value}:{subject_id}")
        collected = _Collected()
        async with pg(self._engine) as conn:
            if subject is Subject.FLAG:
                flag = await get_flag(conn, subject_id)
                if flag is None:
                    raise NotFound(f"no flag {subject_id}")
                flags, chain = [flag], await chain_of_flag(conn, subject_id)
                chains = [chain] if chain else []
                if flag.rule not in _NO_CODE_RULES:
                    collected.event_ids += [h.event_id for h in await history.code_history(conn, flag.code)]
            else:
                if not await history.party_exists(conn, subject_id):
                    raise NotFound(f"no party {subject_id}")
                collected.party_ids.add(subject_id)
                flags = await all_flags_of_party(conn, subject_id)
                chains = await list_chains(conn, party_id=subject_id, include_inactive=True, limit=100_000)
            for flag_row in flags:
                yield flag_row
            collected.add_flags(flags)
            for c in chains:
                yield c
            async for bought in self._buyers(conn, flags, collected):
                yield bought
            events = await history.events_by_id(conn, collected.event_ids)
        for ev in events:
            collected.party_ids.update(p for p in (ev.party_id, ev.counterparty_id) if p)
            yield ev
        async for reference in self._reference(collected, events):
            yield reference

    async def _buyers(
        self, conn: asyncpg.Connection, flags: Sequence[FlagRow], collected: _Collected
    ) -> AsyncIterator[Purchase | Travel]:
        """Each B flag's purchase timeline, then (CARD_TRAVEL) its two places and the time between them."""
        b_flags = [f for f in flags if f.rule == "B" and f.buyer_token]
        if not b_flags:
            return
        bought = await load_buyer_events(conn, sorted({f.buyer_token or "" for f in b_flags}))
        where = await history.party_summaries(conn, {e.party_id for b in bought.values() for e in b.sales})
        for f in b_flags:
            timeline = buyer_timeline(f, bought[f.buyer_token or ""], where)
            collected.party_ids.update(p.sale.party_id for p in timeline)
            for purchase in timeline:
                yield purchase
            for travel in card_travels(f, timeline):
                yield travel

    async def _reference(self, collected: _Collected, events: Sequence[Event]) -> AsyncIterator[EvidenceItem]:
        async with self._engine.connect() as conn:
            parties = await load_parties(conn, sorted(collected.party_ids))
        for party_id in sorted(collected.party_ids):
            if party_id in parties:
                yield parties[party_id]
        for ev in events:
            for party_id in dict.fromkeys(p for p in (ev.party_id, ev.counterparty_id) if p):
                yield standing_at(parties.get(party_id), party_id, ev)
        await self._registry.refresh()
        for code in sorted(collected.codes):
            key = product_key_of(code, self._registry.manufacturer_prefixes)
            product = self._registry.product(key) if key else None
            if product is not None:
                yield product


@dataclass
class _Collected:
    """What the evidence for a subject cites, gathered as its flags are read."""

    event_ids: list[str]
    party_ids: set[str]
    codes: set[str]

    def __init__(self) -> None:
        self.event_ids, self.party_ids, self.codes = [], set(), set()

    def add_flags(self, flags: Sequence[FlagRow]) -> None:
        for f in flags:
            self.event_ids += f.evidence
            self.party_ids.update([f.subject_party, *f.related_parties])
            if f.rule not in _NO_CODE_RULES:
                self.codes.add(f.code)
