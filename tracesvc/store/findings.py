"""Findings as every reader sees them: a stored flag and a stored return chain, one typed row each,
read alike by the reconciler, evidence, cases, case files and the console."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from reconciler.rules.model import ChainEntry, ChainSale
from tracesvc.domain.events import EventKind


@dataclass(frozen=True, slots=True)
class FlagRow:
    """A stored flag, as the enforcement side reads it."""

    flag_id: str
    flag_seq: int
    rule: str
    kind: str
    severity: str
    code: str
    decisive_event_id: str
    decisive_at: datetime
    subject_party: str
    subject_region: str
    related_parties: tuple[str, ...]
    evidence: tuple[str, ...]
    money_fen: int
    detail: str
    status: str
    detected_at: datetime
    detected_run: int
    resolved_at: datetime | None
    resolved_reason: str
    reviewed_by: str
    reviewed_at: datetime | None
    review_note: str
    buyer_token: str  # rule B: the buyer's keyed hash ("" on other rules)
    # LOCAL: found by this database's own runs; NATIONAL: the national run's, imported (`import-findings`),
    # which may cite events only other provinces hold.
    origin: str = "LOCAL"


FLAG_COLUMNS = (
    "flag_id, flag_seq, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region, "
    "related_parties, evidence, money_fen, detail, status, detected_at, detected_run, resolved_at, "
    "coalesce(resolved_reason, '') AS resolved_reason, coalesce(reviewed_by, '') AS reviewed_by, reviewed_at, "
    "coalesce(review_note, '') AS review_note, coalesce(buyer_token, '') AS buyer_token, origin"
)


async def review_flags(
    conn: asyncpg.Connection,
    flag_ids: Sequence[str],
    *,
    status: str,
    note: str,
    reviewer: str,
    role: str,
    method: str,
) -> list[FlagRow]:
    """Record a reviewer's decision on the flags the reconciler has not resolved, with one audit line
    per flag reviewed (`method`: ReviewFlag, ReviewFlags, the console's); the reviewed flags, by id.
    The one review write of every path. Run it inside a transaction: reviews and audit lines commit together.
    """
    rows = await conn.fetch(
        f"""UPDATE flags SET status = $2, review_note = $3, reviewed_by = $4, reviewed_at = clock_timestamp(),
                  updated_at = clock_timestamp()
           WHERE flag_id = ANY($1::text[]) AND status <> 'RESOLVED' RETURNING {FLAG_COLUMNS}""",
        list(flag_ids),
        status,
        note,
        reviewer,
    )
    reviewed = sorted((flag_from_record(r) for r in rows), key=lambda f: f.flag_id)
    await conn.execute(
        """INSERT INTO audit_log (key_id, role, method, target, detail)
           SELECT $1, $2, $5, 'flag:' || f, $4 FROM unnest($3::text[]) AS f""",
        reviewer,
        role,
        [f.flag_id for f in reviewed],
        f"{status}: {note}"[:2000],
        method,
    )
    return reviewed


REVIEW_METHODS = ("ReviewFlag", "ReviewFlags")


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One review of a flag, as its audit line recorded it."""

    at: datetime
    reviewer: str  # the key id
    role: str
    status: str  # CONFIRMED or DISMISSED
    note: str


async def reviews_of(conn: asyncpg.Connection, flag_id: str) -> list[ReviewRow]:
    """Every review of a flag, oldest first (a later one replaces an earlier on the flag itself)."""
    rows = await conn.fetch(
        """SELECT at, key_id, role, detail FROM audit_log
           WHERE target = 'flag:' || $1 AND method = ANY($2::text[]) ORDER BY at, audit_id""",
        flag_id,
        list(REVIEW_METHODS),
    )
    out = []
    for r in rows:
        status, _, note = r["detail"].partition(": ")
        out.append(ReviewRow(r["at"], r["key_id"], r["role"], status, note))
    return out


def flag_from_record(r: asyncpg.Record) -> FlagRow:
    values = dict(r)
    values["related_parties"] = tuple(values["related_parties"])
    values["evidence"] = tuple(values["evidence"])
    return FlagRow(**values)


@dataclass(frozen=True, slots=True)
class ChainRow:
    """A stored return-drug chain: original sale(s) → re-entry → resales."""

    flag_id: str
    code: str
    active: bool
    money_fen: int
    originals: tuple[ChainSale, ...]
    reentry: ChainEntry | None
    resales: tuple[ChainSale, ...]

    @property
    def reentry_party(self) -> str | None:
        return self.reentry.party_id if self.reentry else None

    @property
    def reentry_supplier(self) -> str | None:
        return (self.reentry.supplier_id or None) if self.reentry else None

    @property
    def resale_parties(self) -> list[str]:
        return sorted({s.party_id for s in self.resales})

    def stored_form(self) -> dict[str, Any]:
        """The chain as its row stores it: what a case file's manifest digests (so a digest taken
        before the typed row existed still matches)."""
        return {
            "flag_id": self.flag_id,
            "code": self.code,
            "active": self.active,
            "originals": [chain_sale_json(s) for s in self.originals],
            "reentry": chain_entry_json(self.reentry) if self.reentry else None,
            "resales": [chain_sale_json(s) for s in self.resales],
            "reentry_party": self.reentry_party,
            "reentry_supplier": self.reentry_supplier,
            "resale_parties": self.resale_parties,
            "money_fen": self.money_fen,
        }


def chain_sale_json(s: ChainSale) -> dict[str, Any]:
    return {
        "event_id": s.event_id,
        "party_id": s.party_id,
        "occurred_at": s.occurred_at.isoformat(),
        "buyer_token": s.buyer_token,
        "fund_paid_fen": s.fund_paid_fen,
        "units": s.units,
    }


def chain_entry_json(e: ChainEntry) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "kind": e.kind.value,
        "party_id": e.party_id,
        "supplier_id": e.supplier_id,
        "occurred_at": e.occurred_at.isoformat(),
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _chain_sale(s: dict[str, Any]) -> ChainSale:
    return ChainSale(
        s["event_id"],
        s["party_id"],
        datetime.fromisoformat(s["occurred_at"]),
        s["buyer_token"],
        s["fund_paid_fen"],
        s["units"],
    )


def chain_from_record(r: asyncpg.Record) -> ChainRow:
    entry = _json(r["reentry"]) if r["reentry"] is not None else None
    return ChainRow(
        flag_id=r["flag_id"],
        code=r["code"],
        active=r["active"],
        money_fen=r["money_fen"],
        originals=tuple(_chain_sale(s) for s in _json(r["originals"])),
        reentry=ChainEntry(
            entry["event_id"],
            EventKind(entry["kind"]),
            entry["party_id"],
            entry["supplier_id"],
            datetime.fromisoformat(entry["occurred_at"]),
        )
        if entry
        else None,
        resales=tuple(_chain_sale(s) for s in _json(r["resales"])),
    )


CHAIN_COLUMNS = "flag_id, code, active, money_fen, originals, reentry, resales"
