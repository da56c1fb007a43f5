"""Advisory locks on the shards of a batch's keys (codes, sales, buyer tokens): two runs, or two
worker processes, never judge the same keys at once, and nothing takes a global lock."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import asyncpg

SHARDS = 1024
_LOCK_CODES, _LOCK_SALES, _LOCK_BUYERS = 74311, 74312, 74313  # advisory-lock namespaces


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % SHARDS


# A batch's statements name its keys in arrays of thousands (`= ANY($1)`). A generic plan cannot hash
# such an array and tests each row against every element; on a table whose statistics lag (flags
# early in a first full run) that made each batch's look-up scan the whole table thousands of times.
# Planned with the array's values, PostgreSQL hashes it or picks the index: a few ms of planning
# a statement, against seconds.
_CUSTOM_PLANS = "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"


async def lock_shards(conn: asyncpg.Connection, keys: Iterable[str], *, sales: bool = False) -> None:
    """Transaction-scoped locks on the shards of `keys`, taken in one order so runs cannot deadlock
    (and, for the rest of the batch's transaction, statements planned with their arrays' values)."""
    await conn.execute(_CUSTOM_PLANS)
    shards = sorted({shard_of(k) for k in keys})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, s) FROM (SELECT unnest($2::int[]) AS s ORDER BY 1) q",
        _LOCK_SALES if sales else _LOCK_CODES,
        shards,
    )


async def lock_buyer_shards(conn: asyncpg.Connection, tokens: Sequence[str]) -> None:
    """Transaction-scoped locks on the shards of `tokens`, taken in one order so runs cannot deadlock
    (and custom plans for the batch's statements, as in lock_shards)."""
    await conn.execute(_CUSTOM_PLANS)
    shards = sorted({shard_of(t) for t in tokens})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, s) FROM (SELECT unnest($2::int[]) AS s ORDER BY 1) q", _LOCK_BUYERS, shards
    )
