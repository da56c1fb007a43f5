"""SQL of the Spark engine: what its partitions read, and how a chunk's findings and the run
record reach PostgreSQL. Flags go through `reconciler.store.sync_flags`, the in-process
engine's own code, so identity, review and RESOLVED semantics cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg

from reconciler.rules.model import Finding, ReturnChain
from reconciler.store.buyers import BuyerFinding, sync_buyer_flags
from reconciler.store.loads import CODE_EVENT_COLUMNS, CODE_EVENT_SOURCE, SALE_RETRACTED
from reconciler.store.locks import lock_buyer_shards, lock_shards
from reconciler.store.sync import flags_of_codes, flags_of_sales, sync_flags
from tracesvc.domain.registry import Party

# A code's (or sale's) bucket, computed by PostgreSQL so each JDBC partition is one bucket.
# hashtext is stable for a given server; the masking keeps it non-negative (abs() of
# -2^31 would overflow).
_BUCKET = "mod(hashtext({key}) & 2147483647, {buckets})"


def code_events_query(buckets: int) -> str:
    """Every trace code's event rows, as the in-process engine reads them, with the code's bucket."""
    bucket = _BUCKET.format(key="ec.code", buckets=int(buckets))
    return f"""(SELECT {CODE_EVENT_COLUMNS},
       {bucket} AS bucket
{CODE_EVENT_SOURCE}) AS code_events"""


def sales_query(buckets: int) -> str:
    """Every SALE with its payload and, for rule S, those of its scanned codes on a maker's list."""
    bucket = _BUCKET.format(key="events.event_id", buckets=int(buckets))
    return f"""(SELECT events.event_seq, events.event_id, events.payload::text AS payload, {SALE_RETRACTED},
       ARRAY(SELECT DISTINCT ec.code FROM event_codes ec JOIN commissioned_codes cc ON cc.code = ec.code
             WHERE ec.event_seq = events.event_seq) AS commissioned,
       {bucket} AS bucket
FROM events WHERE events.kind = 'SALE') AS sales"""


def buyer_events_query(buckets: int) -> str:
    """Every sale that names a buyer, and every refund of one, keyed (and bucketed) by the buyer's token:
    rule B's input, as the in-process engine loads it per token."""
    bucket = _BUCKET.format(key="q.buyer_token", buckets=int(buckets))
    return f"""(SELECT q.buyer_token, q.role, q.event_id, q.payload, {bucket} AS bucket FROM (
    SELECT buyer_token, 'sale' AS role, event_id, payload::text AS payload FROM events
    WHERE kind = 'SALE' AND buyer_token IS NOT NULL
    UNION ALL
    SELECT s.buyer_token, 'refund', r.event_id, r.payload::text FROM events s
    JOIN events r ON r.kind = 'SALE_RETURN' AND r.party_id = s.party_id AND r.sale_id = s.sale_id
    WHERE s.kind = 'SALE' AND s.buyer_token IS NOT NULL) q) AS buyer_events"""


def bucket_predicates(buckets: int) -> list[str]:
    """One JDBC partition per bucket."""
    return [f"bucket = {b}" for b in range(buckets)]


class ChunkCounts(NamedTuple):
    done: int  # codes or sales evaluated
    flags_new: int
    flags_resolved: int


class Chunk(NamedTuple):
    """What one chunk of a bucket found: its keys (codes, or sale event ids) and findings."""

    keys: Sequence[str]
    findings: Sequence[Finding]
    chains: Sequence[ReturnChain] = ()


class RunScope(NamedTuple):
    mode: str
    engine: str
    status: str
    window_from: datetime | None
    window_to: datetime | None


async def sync_code_chunk(
    conn: asyncpg.Connection, run_id: int, chunk: Chunk, parties: dict[str, Party]
) -> ChunkCounts:
    """Make the D/L/R flags of these codes match their findings, in one transaction on their shards."""
    codes, findings, chains = chunk
    async with conn.transaction():
        await lock_shards(conn, codes)
        existing = await flags_of_codes(conn, codes)
        new, resolved = await sync_flags(
            conn, existing, findings, chains, run_id=run_id, now=datetime.now(UTC), parties=parties
        )
        counts = ChunkCounts(len(codes), new, resolved)
        await _count(conn, run_id, "codes_done", counts)
    return counts


async def sync_sale_chunk(
    conn: asyncpg.Connection, run_id: int, chunk: Chunk, parties: dict[str, Party]
) -> ChunkCounts:
    """The same for rule S over these sales (keyed by the sale's event id)."""
    sale_ids, findings, _ = chunk
    async with conn.transaction():
        await lock_shards(conn, sale_ids, sales=True)
        existing = await flags_of_sales(conn, sale_ids)
        new, resolved = await sync_flags(
            conn, existing, findings, [], run_id=run_id, now=datetime.now(UTC), parties=parties
        )
        counts = ChunkCounts(len(sale_ids), new, resolved)
        await _count(conn, run_id, "sales_done", counts)
    return counts


async def sync_buyer_chunk(
    conn: asyncpg.Connection,
    run_id: int,
    tokens: Sequence[str],
    found: Sequence[BuyerFinding],
    parties: dict[str, Party],
) -> ChunkCounts:
    """The same for rule B over these buyer tokens."""
    async with conn.transaction():
        await lock_buyer_shards(conn, tokens)
        new, resolved = await sync_buyer_flags(
            conn, tokens, found, run_id=run_id, now=datetime.now(UTC), parties=parties
        )
        counts = ChunkCounts(len(tokens), new, resolved)
        await _count(conn, run_id, "buyers_done", counts)
    return counts


async def _count(conn: asyncpg.Connection, run_id: int, counter: str, counts: ChunkCounts) -> None:
    """Progress on the run row, last in the chunk's transaction so the row lock is held only to commit."""
    assert counter in ("codes_done", "sales_done", "buyers_done")
    await conn.execute(
        f"""UPDATE reconcile_runs SET {counter} = {counter} + $2, flags_new = flags_new + $3,
               flags_resolved = flags_resolved + $4, heartbeat_at = clock_timestamp() WHERE run_id = $1""",
        run_id,
        *counts,
    )


# -- the run record -----------------------------------------------------------------------------


async def begin_run(conn: asyncpg.Connection, run_id: int) -> RunScope:
    """Mark a recorded run RUNNING from scratch: a Spark run redoes all its buckets (syncing is idempotent)."""
    row = await conn.fetchrow(
        """UPDATE reconcile_runs SET status = 'RUNNING', error = NULL, codes_done = 0, sales_done = 0,
                  buyers_done = 0, flags_new = 0, flags_resolved = 0, heartbeat_at = clock_timestamp()
           WHERE run_id = $1 AND status <> 'DONE'
           RETURNING mode, engine, status, window_from, window_to""",
        run_id,
    )
    if row is None:
        row = await conn.fetchrow(
            "SELECT mode, engine, status, window_from, window_to FROM reconcile_runs WHERE run_id = $1", run_id
        )
        if row is None:
            raise LookupError(f"no run {run_id}")
    return RunScope(row["mode"], row["engine"], row["status"], row["window_from"], row["window_to"])


async def count_codes(conn: asyncpg.Connection, run_id: int) -> int:
    """How many trace codes a full run evaluates (PostgreSQL counts; the driver sees no code)."""
    total = await conn.fetchval("SELECT count(DISTINCT code) FROM event_codes WHERE is_trace")
    await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)
    return int(total)


async def set_codes_total(conn: asyncpg.Connection, run_id: int, total: int) -> None:
    await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)


async def finish_run(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute(
        """UPDATE reconcile_runs SET status = 'DONE', finished_at = clock_timestamp(), heartbeat_at = clock_timestamp()
           WHERE run_id = $1""",
        run_id,
    )


async def fail_run(conn: asyncpg.Connection, run_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE reconcile_runs SET status = 'FAILED', error = $2 WHERE run_id = $1 AND status <> 'DONE'",
        run_id,
        reason[:2000],
    )
