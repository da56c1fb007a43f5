"""SQL of the Spark engine: what its partitions read, and how a chunk's findings reach PostgreSQL.
Flags go through `reconciler.store.sync.sync_batch` and runs through `reconciler.lifecycle`, the
in-process engine's own code, so identity, review, RESOLVED semantics and run records cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple

import asyncpg

from reconciler.rules.model import BuyerFinding, Judged
from reconciler.spark.lake import day_sql, received_between
from reconciler.store.loads import CODE_EVENT_COLUMNS, CODE_EVENT_SOURCE, SALE_RETRACTED
from reconciler.store.runs import Phase, count_done
from reconciler.store.sync import sync_batch
from tracesvc.domain.registry import Party

# A code's (or sale's) bucket, computed by PostgreSQL so each JDBC partition is one bucket.
# hashtext is stable for a given server; the masking keeps it non-negative (abs() of
# -2^31 would overflow).
_BUCKET = "mod(hashtext({key}) & 2147483647, {buckets})"


def code_events_query(buckets: int, *, export: bool = False, day: date | None = None) -> str:
    """Every trace code's event rows, as the in-process engine reads them, with the code's bucket;
    for an export also the day each was stored (`lake.day_sql`), or only those stored on `day`."""
    bucket = _BUCKET.format(key="ec.code", buckets=int(buckets))
    stored = f",\n       {day_sql('e.received_at')} AS day" if export else ""
    # A day's rows were written by the day's transactions: their ingest_xid range lets event_codes' BRIN
    # index skip the rest of the table (redundant with the join on received_at, which decides).
    xids = (
        ""
        if day is None
        else f"""
  AND ec.ingest_xid BETWEEN (SELECT min(ingest_xid) FROM events WHERE {received_between("received_at", day)})
                        AND (SELECT max(ingest_xid) FROM events WHERE {received_between("received_at", day)})"""
    )
    return f"""(SELECT {CODE_EVENT_COLUMNS},
       {bucket} AS bucket{stored}
{CODE_EVENT_SOURCE}
  AND {received_between("e.received_at", day)}{xids}) AS code_events"""


def sales_query(buckets: int, *, export: bool = False, day: date | None = None) -> str:
    """Every SALE with its payload and, for rule S, those of its scanned codes on a maker's list."""
    bucket = _BUCKET.format(key="events.event_id", buckets=int(buckets))
    stored = f",\n       {day_sql('events.received_at')} AS day" if export else ""
    return f"""(SELECT events.event_seq, events.event_id, events.payload::text AS payload, {SALE_RETRACTED},
       ARRAY(SELECT DISTINCT ec.code FROM event_codes ec JOIN commissioned_codes cc ON cc.code = ec.code
             WHERE ec.event_seq = events.event_seq) AS commissioned,
       {bucket} AS bucket{stored}
FROM events WHERE events.kind = 'SALE' AND {received_between("events.received_at", day)}) AS sales"""


def buyer_events_query(buckets: int, *, export: bool = False, day: date | None = None) -> str:
    """Every sale that names a buyer, and every refund of one, keyed (and bucketed) by the buyer's token:
    rule B's input, as the in-process engine loads it per token. A refund's row is stored (for an export)
    when the later of it and its sale was: only then is the pair known."""
    bucket = _BUCKET.format(key="q.buyer_token", buckets=int(buckets))
    stored = ", q.day" if export else ""
    return f"""(SELECT q.buyer_token, q.role, q.event_id, q.payload, {bucket} AS bucket{stored} FROM (
    SELECT buyer_token, 'sale' AS role, event_id, payload::text AS payload, {day_sql("received_at")} AS day
    FROM events
    WHERE kind = 'SALE' AND buyer_token IS NOT NULL AND {received_between("received_at", day)}
    UNION ALL
    SELECT s.buyer_token, 'refund', r.event_id, r.payload::text,
           {day_sql("greatest(r.received_at, s.received_at)")}
    FROM events s
    JOIN events r ON r.kind = 'SALE_RETURN' AND r.party_id = s.party_id AND r.sale_id = s.sale_id
    WHERE s.kind = 'SALE' AND s.buyer_token IS NOT NULL
      AND {received_between("greatest(r.received_at, s.received_at)", day)}) q) AS buyer_events"""


def retractions_query(day: date | None = None) -> str:
    """The events retracted (EPCIS errorDeclaration, NHSA 3507), by the day the retraction was stored,
    each with the lake day its event was stored (`target_day`; null if this database never stored it), so
    a daily run reads that day's partitions for the event's rows instead of every day's."""
    return f"""(SELECT r.target_event_id AS event_id, {day_sql("r.stored_at")} AS day,
       {day_sql("e.received_at")} AS target_day
FROM intake_evidence r LEFT JOIN events e ON e.event_id = r.target_event_id
WHERE r.kind = 'RETRACTION' AND {received_between("r.stored_at", day)}) AS retractions"""


def bucket_predicates(buckets: int) -> list[str]:
    """One JDBC partition per bucket."""
    return [f"bucket = {b}" for b in range(buckets)]


class ChunkCounts(NamedTuple):
    done: int  # codes, sales or buyer tokens evaluated
    flags_new: int
    flags_resolved: int


async def sync_chunk(
    conn: asyncpg.Connection,
    run_id: int,
    *,
    phase: Phase,
    keys: Sequence[str],
    judged: Judged | Sequence[BuyerFinding],
    parties: Mapping[str, Party],
) -> ChunkCounts:
    """Make a chunk's flags match what was judged, through the in-process engine's own write path
    (`sync_batch`), and count it on the run, in one transaction on the chunk's shards."""
    async with conn.transaction():
        new, resolved = await sync_batch(
            conn, phase, keys, judged, run_id=run_id, now=datetime.now(UTC), parties=parties
        )
        counts = ChunkCounts(len(keys), new, resolved)
        await count_done(
            conn, run_id, phase, done=counts.done, new=new, resolved=resolved
        )  # last: the run row is locked only to commit
    return counts
