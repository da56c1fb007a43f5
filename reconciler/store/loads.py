"""What the rules read: reference data, a code's events, sales, and the keys a run walks."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.rules.model import CodeEvent, Reference
from reconciler.store.runs import Scope
from tracesvc.domain.events import Event, EventKind
from tracesvc.store.registry import load_parties, load_products


async def load_reference(engine: AsyncEngine) -> Reference:
    async with engine.connect() as conn:
        parties = await load_parties(conn)
        products = {p.prefix: p for p, _ in await load_products(conn)}
        listed = frozenset((await conn.exec_driver_sql("SELECT prefix FROM commissioned_products")).scalars())
    return Reference(parties, products, listed_products=listed)


# What the rules see of a code's events, shared with the Spark engine's partitioned reads so both
# engines judge the same rows: trace codes only, retracted events (EPCIS errorDeclaration) left out.
# A sale row carries the code's share of its line's fund paid (`event_codes.fund_fen`, derived at
# ingest), so no line travels as JSON to be parsed in Python, and nothing is read by position.
CODE_EVENT_COLUMNS = """ec.code, ec.units, ec.line_no, e.event_seq, e.event_id, e.kind, e.party_id, e.occurred_at,
       e.counterparty_id, coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
       ec.fund_fen AS fund"""
CODE_EVENT_SOURCE = """FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
WHERE ec.is_trace
  AND NOT EXISTS (SELECT 1 FROM intake_evidence r WHERE r.kind = 'RETRACTION' AND r.target_event_id = e.event_id)"""
# Whether a sale was retracted, as a column of a query over `events`.
SALE_RETRACTED = """EXISTS (SELECT 1 FROM intake_evidence r
                           WHERE r.kind = 'RETRACTION' AND r.target_event_id = events.event_id) AS retracted"""

# The batch's codes also as a range: a batch is consecutive codes, and the range makes it one scan of
# event_codes' key in code order (the array alone got a scan of the whole table per batch).
_CODE_EVENTS = (
    f"SELECT {CODE_EVENT_COLUMNS}\n{CODE_EVENT_SOURCE}\n"
    "AND ec.code = ANY($1::text[]) AND ec.code >= $2 AND ec.code <= $3"
)
_CODE_EVENT_NAMES = (
    "code",
    "units",
    "line_no",
    "event_seq",
    "event_id",
    "kind",
    "party_id",
    "occurred_at",
    "counterparty_id",
    "sale_id",
    "buyer_token",
    "fund",
)
_KINDS = {k.value: k for k in EventKind}


async def load_code_events(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, list[CodeEvent]]:
    """Every event of each code, one CodeEvent per (code, event) with a sale's lines summed."""
    if not codes:
        return {}
    return code_events_from_rows(await conn.fetch(_CODE_EVENTS, list(codes), min(codes), max(codes)))


def code_events_from_rows(rows: Iterable[Any]) -> dict[str, list[CodeEvent]]:
    """Rows of CODE_EVENT_COLUMNS (asyncpg records, or dicts from Arrow in the Spark engine) as
    CodeEvents per code. One code on several lines of one sale is one event: units and fund summed."""
    out: dict[str, list[CodeEvent]] = defaultdict(list)
    seen: dict[tuple[str, int], int] = {}  # (code, event_seq) -> index in out[code], for the rare merges
    kinds = _KINDS
    for row in rows:
        values = [row[name] for name in _CODE_EVENT_NAMES] if type(row) is dict else row
        code, units, _, seq, event_id, kind, party, at, counterparty, sale_id, buyer, fund = values
        events = out[code]
        key = (code, seq)
        at_index = seen.get(key)
        if at_index is None:
            seen[key] = len(events)
            events.append(CodeEvent(event_id, kinds[kind], party, at, counterparty, units, sale_id, buyer, fund))
        else:
            prev = events[at_index]
            total = None if prev.units is None or units is None else prev.units + units
            events[at_index] = CodeEvent(
                event_id, prev.kind, party, at, counterparty, total, sale_id, buyer, prev.fund_paid_fen + fund
            )
    return out


class SaleKeys(NamedTuple):
    """The next sales a run's sale phase judges: their event ids (the keys it locks) and the storage
    position of the last one (its cursor)."""

    event_ids: list[str]
    last_seq: int


async def next_sales(conn: asyncpg.Connection, scope: Scope, after_seq: int, limit: int) -> SaleKeys | None:
    """The next SALE events in storage order within a run's scope, by id only (cheap: no payload)."""
    n = len(scope.args)
    rows = await conn.fetch(
        f"""SELECT event_seq, event_id FROM events
            WHERE kind = 'SALE' AND {scope.sql} AND event_seq > ${n + 1} ORDER BY event_seq LIMIT ${n + 2}""",
        *scope.args,
        after_seq,
        limit,
    )
    return SaleKeys([r["event_id"] for r in rows], rows[-1]["event_seq"]) if rows else None


async def load_sales(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[Event]:
    """These SALE events as rule S judges them."""
    rows = await conn.fetch(
        f"SELECT payload::text AS payload, {SALE_RETRACTED} FROM events WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )
    # A retracted sale (EPCIS errorDeclaration) comes back without lines: it shows no substitution, so
    # its earlier S flags are resolved by the run like any finding that later evidence undoes.
    return [sale_as_judged(r["payload"], r["retracted"]) for r in rows]


def sale_as_judged(payload: str, retracted: bool) -> Event:
    """A stored sale as rule S judges it: a retracted sale (EPCIS errorDeclaration) has no lines."""
    return _unless_retracted(Event.from_json(json.loads(payload)), retracted)


def _unless_retracted(ev: Event, retracted: bool) -> Event:
    return ev.evolve(lines=()) if retracted else ev


async def commissioned_among(conn: asyncpg.Connection, codes: Iterable[str]) -> frozenset[str]:
    rows = await conn.fetch("SELECT code FROM commissioned_codes WHERE code = ANY($1::text[])", list(set(codes)))
    return frozenset(r["code"] for r in rows)


async def count_codes(conn: asyncpg.Connection, run_id: int, scope: Scope) -> int:
    """How many codes the run will evaluate; recorded on the run for its progress."""
    total = await conn.fetchval(
        f"SELECT count(DISTINCT code) FROM event_codes WHERE is_trace AND {scope.sql}", *scope.args
    )
    await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)
    return int(total)


async def next_codes(conn: asyncpg.Connection, scope: Scope, after: str, limit: int) -> list[str]:
    """The next batch of trace codes in scope, in code order after `after`."""
    n = len(scope.args)
    rows = await conn.fetch(
        f"""SELECT DISTINCT code FROM event_codes WHERE is_trace AND {scope.sql} AND code > ${n + 1}
            ORDER BY code LIMIT ${n + 2}""",
        *scope.args,
        after,
        limit,
    )
    return [r["code"] for r in rows]
