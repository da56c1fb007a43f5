"""Ingestion as one pipeline for every entry point (unary batches and the stream):
convert → validate against the registry → write → one acknowledgement per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain.events import Draft, Event, EventKind, InvalidEvent, Violation, normalize_event
from tracesvc.domain.hygiene import quote
from tracesvc.domain.slices import Slicer
from tracesvc.domain.verify import CodeCheck, CodeState, check, fold_into
from tracesvc.observability import metrics
from tracesvc.service.access import UNRESTRICTED, Principal
from tracesvc.store.events import Outcome, write_events
from tracesvc.store.registry import RegistryCache

log = structlog.get_logger(__name__)


class AckKind(StrEnum):
    STORED = "STORED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    DENIED = "DENIED"  # the caller may not write this event: rejected with PERMISSION_DENIED
    CONFLICT = "CONFLICT"


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: str
    kind: AckKind
    message: str = ""
    violations: tuple[Violation, ...] = field(default=())
    checks: tuple[CodeCheck, ...] = ()  # a stored sale's verdicts, per scanned value


_FROM_OUTCOME = {
    Outcome.STORED: AckKind.STORED,
    Outcome.DUPLICATE: AckKind.DUPLICATE,
    Outcome.CONFLICT: AckKind.CONFLICT,
}


class IngestsDrafts(Protocol):
    """What an entry point that builds its own drafts (the HTTP intake) ingests through: the
    Ingestor itself, or one that sends large documents to the bulk lane."""

    async def ingest(self, drafts: Sequence[Draft], principal: Principal = ...) -> list[Ack]: ...


class Ingestor:
    def __init__(self, engine: AsyncEngine, registry: RegistryCache, *, max_future: timedelta) -> None:
        self._engine = engine
        self._registry = registry
        self._max_future = max_future

    def region_of(self, party_id: str | None) -> str:
        return self._registry.region_of(party_id)

    async def warm(self) -> None:
        """Load the registry (and so open a connection) before the first batch needs them."""
        await self._registry.refresh(force=True)

    @property
    def registry_generation(self) -> int:
        """Moves with every registry write made through this process (see RegistryCache.generation)."""
        return self._registry.generation

    async def ingest(self, drafts: Sequence[Draft], principal: Principal = UNRESTRICTED) -> list[Ack]:
        """Acknowledge each draft; an ack of STORED or DUPLICATE means it is committed."""
        await self._registry.refresh()
        await self._registry.ensure_parties({d.event.party_id for d in drafts} | {principal.party_id or ""})
        acks: list[Ack | None] = [None] * len(drafts)
        valid: list[Event] = []
        valid_at: list[int] = []
        # Validation is CPU work on the event loop: hand the loop back every slice (a few ms,
        # whatever the events' size) so a large batch does not hold up a POS verifying a code.
        slicer = Slicer()
        for i, draft in enumerate(drafts):
            await slicer.tick()
            result = self._validate(draft, principal)
            if isinstance(result, Ack):
                acks[i] = result
            else:
                valid.append(result)
                valid_at.append(i)
        # Verdicts are given for sales only: the states that matter are their codes', before the batch
        # and then after each earlier event of the batch (a box received and sold in one group).
        sold = {s.code for e in valid if e.kind is EventKind.SALE for line in e.lines for s in line.scans}
        written = await metrics.timed_commit(write_events(self._engine, valid, states_of=sold))
        states = dict(written.states_before)
        for i, event, outcome in zip(valid_at, valid, written.results, strict=True):
            await slicer.tick()
            checks: tuple[CodeCheck, ...] = ()
            if outcome.outcome is Outcome.STORED and sold:
                if event.kind is EventKind.SALE:
                    checks = self._sale_checks(event, states)
                fold_into(states, event, sold)
            acks[i] = Ack(drafts[i].event.event_id, _FROM_OUTCOME[outcome.outcome], outcome.reason, checks=checks)
        done = [a for a in acks if a is not None]
        counts: dict[str, int] = {}
        for a in done:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        metrics.ingested(drafts, done)
        log.info("ingested", events=len(drafts), **{k.lower(): v for k, v in counts.items()})
        return done

    def _validate(self, draft: Draft, principal: Principal) -> Event | Ack:
        """The normalized event, or the ack that refuses it."""
        event_id = draft.event.event_id
        # Scope first: a denied caller learns nothing about the event's validity.
        denial = principal.write_denial(draft.event.kind, draft.event.party_id, self._registry.chain_of)
        if denial is not None:
            return Ack(event_id, AckKind.DENIED, denial)
        violations = draft.violations
        try:
            event = normalize_event(draft.event, self._registry, max_future=self._max_future)
        except InvalidEvent as exc:
            violations = violations + exc.violations
        else:
            if not violations:
                return event
        return Ack(event_id, AckKind.REJECTED, _describe(event_id, violations), tuple(violations))

    def _sale_checks(self, sale: Event, states: dict[str, CodeState]) -> tuple[CodeCheck, ...]:
        """What VerifyCodes would have said of each scanned value just before this sale."""
        return tuple(
            check(
                scan.code,
                party_id=sale.party_id,
                state=states.get(scan.code),
                product_of=self._registry.product,
                manufacturer_prefixes=self._registry.manufacturer_prefixes,
                billed_insurance_code=line.insurance_code,
                units=scan.units,
            )
            for line in sale.lines
            for scan in line.scans
        )


def _describe(event_id: str, violations: Sequence[Violation]) -> str:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"event {quote(event_id) if event_id else '<no id>'} rejected: {first.field}: {first.description}{more}"
