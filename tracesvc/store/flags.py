"""A stored flag as every reader sees it: findings, evidence, cases and case files read the same row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


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


FLAG_COLUMNS = (
    "flag_id, flag_seq, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region, "
    "related_parties, evidence, money_fen, detail, status, detected_at, detected_run, resolved_at, "
    "coalesce(resolved_reason, '') AS resolved_reason, coalesce(reviewed_by, '') AS reviewed_by, reviewed_at, "
    "coalesce(review_note, '') AS review_note, coalesce(buyer_token, '') AS buyer_token"
)


def flag_from_record(r: asyncpg.Record) -> FlagRow:
    values = dict(r)
    values["related_parties"] = tuple(values["related_parties"])
    values["evidence"] = tuple(values["evidence"])
    return FlagRow(**values)
