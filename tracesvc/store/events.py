"""The event write path: idempotent, item by item, one transaction and few round trips per batch.

A batch is decided in memory against one look-up of the ids (and sale keys) it names,
inserted with one set-based INSERT … ON CONFLICT DO NOTHING, and its code rows
written with COPY. Only what the commit made durable is reported STORED.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain.events import Event, EventKind, Serialized
from tracesvc.domain.hygiene import quote
from tracesvc.domain.slices import Slicer
from tracesvc.domain.verify import CodeState
from tracesvc.store.db import pg


class Outcome(StrEnum):
    STORED = "STORED"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"


@dataclass(frozen=True, slots=True)
class WriteResult:
    outcome: Outcome
    reason: str = ""


@dataclass
class BatchWrite:
    results: list[WriteResult]
    # State of each code the batch stored events of, as it was before the batch (for verdicts).
    states_before: dict[str, CodeState] = field(default_factory=dict)


_DUPLICATE = WriteResult(Outcome.DUPLICATE)
_STORED = WriteResult(Outcome.STORED)

_SELECT_IDS = "SELECT event_id, content_hash FROM events WHERE event_id = ANY($1::text[])"
# Ids and sale keys in ONE statement (one snapshot): looked up in two, a concurrent writer of
# the same event could commit in between, and an identical retry would meet its own sale key.
_SELECT_IDS_AND_SALES = """
SELECT event_id, content_hash, NULL::text AS party_id, NULL::text AS sale_id
FROM events WHERE event_id = ANY($1::text[])
UNION ALL
SELECT e.event_id, e.content_hash, e.party_id, e.sale_id
FROM unnest($2::text[], $3::text[]) AS u(party_id, sale_id)
CROSS JOIN LATERAL (
    SELECT event_id, content_hash, party_id, sale_id FROM events
    WHERE party_id = u.party_id AND sale_id = u.sale_id AND kind = 'SALE'
    LIMIT 1  -- the key is unique; the LIMIT also keeps the planner from flattening this into a join
) AS e
"""
# Why LATERAL … LIMIT 1: written as a plain join, the planner costed 100 keys against every stored sale
# and chose a hash join over a scan of all SALE events — 60 ms a batch at 40 k sales, growing with the
# history (BENCHMARKS.md, issue "POS sale at the database's speed"). Here each key is one probe of
# uq_events_sale, whatever the plan cache decides; tests/integration/test_sale_plans.py guards it.
_INSERT_EVENTS = """
INSERT INTO events (event_id, kind, party_id, occurred_at, document_no, counterparty_id,
                    sale_id, buyer_token, content_hash, payload, fund_paid_fen)
SELECT u.event_id, u.kind, u.party_id, u.occurred_at, u.document_no, u.counterparty_id,
       u.sale_id, u.buyer_token, u.content_hash, u.payload::jsonb, u.fund_paid_fen
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::bytea[], $10::text[], $11::bigint[])
     AS u(event_id, kind, party_id, occurred_at, document_no, counterparty_id,
          sale_id, buyer_token, content_hash, payload, fund_paid_fen)
ON CONFLICT DO NOTHING
RETURNING event_id, event_seq
"""
# What the write path COPYs into each table (the ingest benchmark's COPY baseline writes the same).
CODE_COLUMNS = (
    "code",
    "event_seq",
    "line_no",
    "occurred_at",
    "kind",
    "party_id",
    "units",
    "is_trace",
    "fund_fen",
    "batch",
)


EVENT_COLUMNS = (
    "event_seq",
    "event_id",
    "kind",
    "party_id",
    "occurred_at",
    "document_no",
    "counterparty_id",
    "sale_id",
    "buyer_token",
    "content_hash",
    "payload",
    "fund_paid_fen",
)
_NEXT_SEQS = "SELECT nextval('events_event_seq_seq') AS seq FROM generate_series(1, $1)"


async def _copy_new(
    conn: asyncpg.Connection, evs: Sequence[Event], serialized: Sequence[Serialized]
) -> dict[str, int] | None:
    """The fast path: COPY events none of which existed at the look-up; None if one appeared since.

    COPY is about twice as fast as a set-based INSERT here. A concurrent writer of the same
    id or sale key makes it fail on the unique index; the savepoint then undoes it and the
    caller takes INSERT … ON CONFLICT DO NOTHING, which settles every race.
    """
    seqs = [r["seq"] for r in await conn.fetch(_NEXT_SEQS, len(evs))]
    rows = [
        (
            seq,
            e.event_id,
            e.kind.value,
            e.party_id,
            e.occurred_at,
            e.document_no,
            e.counterparty_id,
            e.sale_id or None,
            e.buyer_token or None,
            digest,
            text,
            e.fund_paid_fen,
        )
        for seq, e, (text, digest) in zip(seqs, evs, serialized, strict=True)
    ]
    try:
        async with conn.transaction():  # a savepoint inside the batch's transaction
            await conn.copy_records_to_table("events", records=rows, columns=EVENT_COLUMNS)
    except asyncpg.UniqueViolationError:
        return None
    return {e.event_id: seq for seq, e in zip(seqs, evs, strict=True)}


def _sale_key(ev: Event) -> tuple[str, str] | None:
    return (ev.party_id, ev.sale_id) if ev.kind is EventKind.SALE else None


async def write_events(
    engine: AsyncEngine, batch: Sequence[Event], *, states_of: AbstractSet[str] | None = None
) -> BatchWrite:
    """Store normalized events; return one result per event, in order, after the commit, and the
    states before the batch of the codes in `states_of` (all the batch's codes when None)."""
    if not batch:
        return BatchWrite([])
    # Serialising and building rows is CPU on the event loop: yield between slices of it, so a
    # group of delivery notes does not hold up short calls. (Before the transaction opens, so
    # no lock is held across a yield here.)
    slicer = Slicer()
    serialized = []
    for ev in batch:
        await slicer.tick()
        serialized.append(ev.serialized())
    for attempt in range(_DEADLOCK_ATTEMPTS):
        out = BatchWrite([])
        try:
            async with pg(engine) as conn, conn.transaction():
                out.results = await _write(conn, batch, serialized, out.states_before, states_of)
            return out
        except asyncpg.DeadlockDetectedError:
            # The code-state lock step locks only rows that exist, in code order; the upsert then
            # creates the missing ones, so two batches sharing codes can cross. PostgreSQL aborts
            # one whole transaction (nothing of it is kept): run it again, it decides afresh. The
            # jitter keeps two retrying batches from meeting again in step.
            if attempt == _DEADLOCK_ATTEMPTS - 1:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")


# Each retry meets the other batch afresh, with jitter; five make exhaustion (ABORTED to the client,
# who retries too) rare even for four streams sharing codes (benchmarks/ingest.py's simulated mix).
_DEADLOCK_ATTEMPTS = 5


async def _write(
    conn: asyncpg.Connection,
    batch: Sequence[Event],
    serialized: list[Serialized],
    states_before: dict[str, CodeState],
    states_of: AbstractSet[str] | None,
) -> list[WriteResult]:
    n = len(batch)
    results: list[WriteResult | None] = [None] * n
    first_of: dict[str, int] = {}  # event_id -> index of its first appearance in the batch
    repeats: list[int] = []
    for i, ev in enumerate(batch):
        if ev.event_id in first_of:
            repeats.append(i)
        else:
            first_of[ev.event_id] = i

    stored_hash, sale_owner = await _look_up(conn, list(first_of), [batch[i] for i in first_of.values()])
    to_insert: list[int] = []
    for event_id, i in first_of.items():
        if event_id in stored_hash:
            results[i] = _classify(stored_hash[event_id], serialized[i].digest)
            continue
        key = _sale_key(batch[i])
        if key is not None:
            owner = sale_owner.get(key)
            if owner == event_id:  # stored by a concurrent writer of this very event
                results[i] = _classify(stored_hash.get(event_id, b""), serialized[i].digest)
                continue
            if owner is not None:
                results[i] = WriteResult(Outcome.CONFLICT, f"sale_id {quote(key[1])} is event {quote(owner)}")
                continue
            sale_owner[key] = event_id
        to_insert.append(i)

    if to_insert:
        stored = await _insert(conn, batch, serialized, sorted(to_insert, key=lambda i: batch[i].event_id), results)
        states_before.update(await _count_states(conn, stored, states_of))

    for i in repeats:
        first = results[first_of[batch[i].event_id]]
        assert first is not None
        if serialized[i].digest != serialized[first_of[batch[i].event_id]].digest:
            results[i] = WriteResult(Outcome.CONFLICT, "event_id used twice in this batch with other content")
        else:
            results[i] = first if first.outcome is Outcome.CONFLICT else _DUPLICATE
    return [r for r in results if r is not None]


async def _look_up(
    conn: asyncpg.Connection, event_ids: list[str], events: Sequence[Event]
) -> tuple[dict[str, bytes], dict[tuple[str, str], str]]:
    """Stored content hashes by event id, and the event id owning each sale key, in one snapshot."""
    sale_keys = [k for ev in events if (k := _sale_key(ev)) is not None]
    rows = await conn.fetch(_SELECT_IDS_AND_SALES, event_ids, [k[0] for k in sale_keys], [k[1] for k in sale_keys])
    stored_hash = {r["event_id"]: bytes(r["content_hash"]) for r in rows}
    owners = {(r["party_id"], r["sale_id"]): r["event_id"] for r in rows if r["party_id"] is not None}
    return stored_hash, owners


def _classify(stored: bytes, incoming: bytes) -> WriteResult:
    if stored == incoming:
        return _DUPLICATE
    return WriteResult(Outcome.CONFLICT, "event_id already recorded with other content")


async def _insert(
    conn: asyncpg.Connection,
    batch: Sequence[Event],
    serialized: list[Serialized],
    order: list[int],
    results: list[WriteResult | None],
) -> list[Event]:
    """Insert; mark what was stored; return the stored events."""
    evs = [batch[i] for i in order]
    seq_of = await _copy_new(conn, evs, [serialized[i] for i in order])
    if seq_of is None:  # someone else stored one of these ids meanwhile: take the careful path
        rows = await conn.fetch(
            _INSERT_EVENTS,
            [e.event_id for e in evs],
            [e.kind.value for e in evs],
            [e.party_id for e in evs],
            [e.occurred_at for e in evs],
            [e.document_no for e in evs],
            [e.counterparty_id for e in evs],
            [e.sale_id or None for e in evs],
            [e.buyer_token or None for e in evs],
            [serialized[i].digest for i in order],
            [serialized[i].text for i in order],
            [e.fund_paid_fen for e in evs],
        )
        seq_of = {r["event_id"]: r["event_seq"] for r in rows}
    code_rows = []
    lost: list[int] = []
    stored: list[Event] = []
    slicer = Slicer()
    for i in order:
        await slicer.tick()
        ev = batch[i]
        seq = seq_of.get(ev.event_id)
        if seq is None:  # a concurrent writer committed the same id or sale key first
            lost.append(i)
            continue
        results[i] = _STORED
        stored.append(ev)
        for row in ev.code_rows():
            code_rows.append(
                (
                    row.code,
                    seq,
                    row.line_no,
                    ev.occurred_at,
                    ev.kind.value,
                    ev.party_id,
                    row.units,
                    row.is_trace,
                    row.fund_fen,
                    row.batch or None,
                )
            )
    if code_rows:
        await conn.copy_records_to_table("event_codes", records=code_rows, columns=CODE_COLUMNS)
    if lost:
        stored_hash = {
            r["event_id"]: bytes(r["content_hash"])
            for r in await conn.fetch(_SELECT_IDS, [batch[i].event_id for i in lost])
        }
        for i in lost:
            ev = batch[i]
            if ev.event_id in stored_hash:
                results[i] = _classify(stored_hash[ev.event_id], serialized[i].digest)
            else:
                results[i] = WriteResult(Outcome.CONFLICT, f"sale_id {quote(ev.sale_id)} already recorded")
    return stored


_UPSERT_STATE = """
INSERT INTO code_state AS s (code, sold_whole, sold_units, returned_whole, returned_units, last_sale_at,
                             last_sale_party, holders)
SELECT u.code, u.sw, u.su, u.rw, u.ru, u.at, u.party, string_to_array(u.holders, E'\\x1f')
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::bigint[], $6::timestamptz[], $7::text[],
            $8::text[]) AS u(code, sw, su, rw, ru, at, party, holders)
ORDER BY u.code  -- one lock order for every writer: concurrent batches cannot deadlock here
ON CONFLICT (code) DO UPDATE SET
    sold_whole = s.sold_whole + excluded.sold_whole, sold_units = s.sold_units + excluded.sold_units,
    returned_whole = s.returned_whole + excluded.returned_whole,
    returned_units = s.returned_units + excluded.returned_units,
    last_sale_party = CASE WHEN s.last_sale_at IS NULL OR excluded.last_sale_at > s.last_sale_at
                           THEN excluded.last_sale_party ELSE s.last_sale_party END,
    last_sale_at = greatest(s.last_sale_at, excluded.last_sale_at),
    holders = ARRAY(SELECT DISTINCT h FROM unnest(s.holders || excluded.holders) h ORDER BY h)
"""
_RETURNING_STATE = (
    " RETURNING code, sold_whole, sold_units, returned_whole, returned_units, last_sale_at, last_sale_party, holders"
)


# The last sale before the batch: read (and locked, in the upsert's lock order) before the upsert,
# which can only return the row after it. The resale verdict names the EARLIER sale.
_LOCK_STATES = """
SELECT code, last_sale_at, last_sale_party, holders FROM code_state WHERE code = ANY($1::text[])
ORDER BY code FOR UPDATE
"""


_COUNTED = (EventKind.SALE, EventKind.SALE_RETURN)  # their delta depends on each row's units
_NONE = CodeState()


async def _count_states(
    conn: asyncpg.Connection, stored: Sequence[Event], wanted: AbstractSet[str] | None
) -> dict[str, CodeState]:
    """Add the stored events to each code's state; return the `wanted` ones as they were before."""
    deltas: dict[str, CodeState] = {}
    slicer = Slicer()
    for ev in stored:
        await slicer.tick()
        # A custody event changes each of its codes alike: one delta, shared (states are frozen),
        # for every code the batch meets first here — a delivery note's hundred boxes cost a dict write each.
        alike = (
            None if ev.kind in _COUNTED else _NONE.after(ev.kind, ev.party_id, ev.counterparty_id, None, ev.occurred_at)
        )
        for row in ev.code_rows():
            if row.is_trace:
                prev = deltas.get(row.code)
                if prev is None and alike is not None:
                    deltas[row.code] = alike
                else:
                    deltas[row.code] = (prev or _NONE).after(
                        ev.kind, ev.party_id, ev.counterparty_id, row.units, ev.occurred_at
                    )
    if not deltas:
        return {}
    codes = sorted(deltas)
    d = [deltas[c] for c in codes]
    columns = (
        codes,
        [x.sold_whole for x in d],
        [x.sold_units for x in d],
        [x.returned_whole for x in d],
        [x.returned_units for x in d],
        [x.last_sale_at for x in d],
        [x.last_sale_party for x in d],
        ["\x1f".join(sorted(x.holders)) for x in d],
    )
    if wanted is not None and not any(c in wanted for c in codes):  # delivery notes: nothing to read back
        await conn.execute(_UPSERT_STATE, *columns)
        return {}
    # All the batch's codes, not only the wanted ones: locked in code order, as the upsert then takes
    # them, so that two batches meet in one order (locking only some first would cross the upsert of another).
    locked = {r["code"]: r for r in await conn.fetch(_LOCK_STATES, codes)}
    rows = await conn.fetch(_UPSERT_STATE + _RETURNING_STATE, *columns)
    if wanted is not None:
        rows = [r for r in rows if r["code"] in wanted]
    before = {}
    for r in rows:
        delta = deltas[r["code"]]
        # Counters subtract exactly; the last sale and the holders are the locked row's (no row:
        # none before the batch, unless a concurrent writer created it meanwhile).
        old = locked.get(r["code"])
        if old is None and r["sold_whole"] + r["sold_units"] > delta.sold_whole + delta.sold_units:
            old = r
        sale_at, sale_party = (old["last_sale_at"], old["last_sale_party"]) if old is not None else (None, None)
        holders = frozenset(old["holders"] or ()) if old is not None else frozenset()
        before[r["code"]] = CodeState(
            r["sold_whole"] - delta.sold_whole,
            r["sold_units"] - delta.sold_units,
            r["returned_whole"] - delta.returned_whole,
            r["returned_units"] - delta.returned_units,
            sale_at,
            sale_party,
            holders,
        )
    return before


_EXPORT = "SELECT event_seq, payload::text AS payload FROM events WHERE event_seq > $1 ORDER BY event_seq LIMIT $2"


async def iter_events(engine: AsyncEngine, *, page: int = 2000):
    """Every stored event in storage order, paged by event_seq so memory stays flat."""
    after = 0
    while True:
        async with pg(engine) as conn:
            rows = await conn.fetch(_EXPORT, after, page)
        if not rows:
            return
        for r in rows:
            yield Event.from_json(json.loads(r["payload"]))
        after = rows[-1]["event_seq"]


_STATES = (
    "SELECT code, sold_whole, sold_units, returned_whole, returned_units, last_sale_at, last_sale_party, "
    "holders FROM code_state WHERE code = ANY($1::text[])"
)


async def load_code_states(engine: AsyncEngine, canonical_codes: Sequence[str]) -> dict[str, CodeState]:
    """The current state of each code that has one (VerifyCodes: one indexed row per code)."""
    async with pg(engine) as conn:
        rows = await conn.fetch(_STATES, list(canonical_codes))
    return {
        r["code"]: CodeState(
            r["sold_whole"],
            r["sold_units"],
            r["returned_whole"],
            r["returned_units"],
            r["last_sale_at"],
            r["last_sale_party"],
            frozenset(r["holders"]),
        )
        for r in rows
    }
