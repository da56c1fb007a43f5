"""Reading stored events for people: a code's custody timeline, events by id, party summaries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import asyncpg

from tracesvc.domain.events import Event, EventKind


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One event of a code (a sale's lines summed)."""

    event_id: str
    kind: EventKind
    occurred_at: datetime
    received_at: datetime
    party_id: str
    counterparty_id: str
    document_no: str
    sale_id: str
    buyer_token: str
    units: int | None  # None: the whole pack


_HISTORY = """
SELECT e.event_id, e.kind, e.occurred_at, e.received_at, e.party_id, e.counterparty_id, e.document_no,
       coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
       CASE WHEN bool_or(ec.units IS NULL) THEN NULL ELSE sum(ec.units) END AS units
FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
WHERE ec.code = $1
GROUP BY e.event_seq
ORDER BY e.occurred_at, e.event_id
"""


async def code_history(conn: asyncpg.Connection, code: str) -> list[HistoryRow]:
    """Every event of one code, in (occurred_at, event_id) order."""
    rows = await conn.fetch(_HISTORY, code)
    return [
        HistoryRow(
            r["event_id"],
            EventKind(r["kind"]),
            r["occurred_at"],
            r["received_at"],
            r["party_id"],
            r["counterparty_id"],
            r["document_no"],
            r["sale_id"],
            r["buyer_token"],
            r["units"],
        )
        for r in rows
    ]


_PAGE = 500  # ids per round trip


async def events_by_id(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[Event]:
    """The named events as stored (each once), in (occurred_at, event_id) order."""
    ordered = list(dict.fromkeys(event_ids))
    events: list[Event] = []
    for i in range(0, len(ordered), _PAGE):
        rows = await conn.fetch(
            "SELECT payload::text AS p FROM events WHERE event_id = ANY($1::text[])", ordered[i : i + _PAGE]
        )
        events += [Event.from_json(json.loads(r["p"])) for r in rows]
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


class PartySummary(NamedTuple):
    party_id: str
    name: str
    region: str
    kind: str


async def party_summaries(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, PartySummary]:
    rows = await conn.fetch(
        "SELECT party_id, name, region, kind FROM parties WHERE party_id = ANY($1::text[])", [i for i in ids if i]
    )
    return {r["party_id"]: PartySummary(r["party_id"], r["name"], r["region"], r["kind"]) for r in rows}


async def party_exists(conn: asyncpg.Connection, party_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM parties WHERE party_id = $1", party_id))
