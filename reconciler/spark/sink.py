"""SQL of the Spark engine: what its partitions read, and how a chunk's findings and the run
record reach PostgreSQL. Flags go through `reconciler.persist.sync_flags`, the in-process
engine's own code, so identity, review and RESOLVED semantics cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg

from reconciler import persist
from reconciler.rules.model import Finding, ReturnChain
from tracesvc.domain.registry import Party

# A code's (or sale's) bucket, computed by PostgreSQL so each JDBC partition is one bucket.
# hashtext is stable for a given server; the masking keeps it non-negative (abs() of
# -2^31 would overflow).
_BUCKET = "mod(hashtext({key}) & 2147483647, {buckets})"


def code_events_query(buckets: int) -> str:
    """Every trace code's event rows, the columns of `persist._CODE_EVENTS`, with the code's bucket."""
    bucket = _BUCKET.format(key="ec.code", buckets=int(buckets))
    return f"""(SELECT ec.code, ec.units, ec.line_no, e.event_seq, e.event_id, e.kind, e.party_id, e.occurred_at,
       e.counterparty_id, coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
       CASE WHEN e.kind = 'SALE' THEN (e.payload -> 'lines' -> ec.line_no)::text END AS line,
       {bucket} AS bucket
FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
WHERE ec.is_trace) AS code_events"""


def sales_query(buckets: int) -> str:
    """Every SALE with its payload and, for rule S, those of its scanned codes on a maker's list."""
    bucket = _BUCKET.format(key="e.event_id", buckets=int(buckets))
    return f"""(SELECT e.event_seq, e.event_id, e.payload::text AS payload,
       ARRAY(SELECT DISTINCT ec.code FROM event_codes ec JOIN commissioned_codes cc ON cc.code = ec.code
             WHERE ec.event_seq = e.event_seq) AS commissioned,
       {bucket} AS bucket
FROM events e WHERE e.kind = 'SALE') AS sales"""


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


_EXISTING_CODE_FLAGS = (
    "SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags "
    "WHERE code = ANY($1::text[]) AND rule <> 'S'"
)
_EXISTING_SALE_FLAGS = (
    "SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags "
    "WHERE decisive_event_id = ANY($1::text[]) AND rule = 'S'"
)


async def sync_code_chunk(
    conn: asyncpg.Connection, run_id: int, chunk: Chunk, parties: dict[str, Party]
) -> ChunkCounts:
    """Make the D/L/R flags of these codes match their findings, in one transaction on their shards."""
    codes, findings, chains = chunk
    async with conn.transaction():
        await persist.lock_shards(conn, codes)
        existing = await conn.fetch(_EXISTING_CODE_FLAGS, list(codes))
        new, resolved = await persist.sync_flags(
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
        await persist.lock_shards(conn, sale_ids, sales=True)
        existing = await conn.fetch(_EXISTING_SALE_FLAGS, list(sale_ids))
        new, resolved = await persist.sync_flags(
            conn, existing, findings, [], run_id=run_id, now=datetime.now(UTC), parties=parties
        )
        counts = ChunkCounts(len(sale_ids), new, resolved)
        await _count(conn, run_id, "sales_done", counts)
    return counts


async def _count(conn: asyncpg.Connection, run_id: int, counter: str, counts: ChunkCounts) -> None:
    """Progress on the run row, last in the chunk's transaction so the row lock is held only to commit."""
    assert counter in ("codes_done", "sales_done")
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
                  flags_new = 0, flags_resolved = 0, heartbeat_at = clock_timestamp()
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
