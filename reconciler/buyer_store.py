"""SQL of rule B's run phase: which buyer tokens a run evaluates, their sales and refunds, their flags.

Kept apart from `persist.py` / `queries.py` so it moves into `reconciler/store.py` as it is. Everything
is keyed by buyer token, and a batch holds advisory locks on the shards of its tokens only: two runs
never work on one buyer at once, and nothing takes a global lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from reconciler import persist
from reconciler.rules.model import Finding
from tracesvc.domain.events import Event
from tracesvc.domain.registry import Party

_LOCK_BUYERS = 74313  # advisory-lock namespace beside persist's codes (74311) and sales (74312)


@dataclass(frozen=True, slots=True)
class BuyerScope:
    """Which tokens a run evaluates: incremental (rows stored from `xid_from` on), a full run's window, or all."""

    incremental: bool = False
    xid_from: int = 0
    window_from: datetime | None = None
    window_to: datetime | None = None

    @classmethod
    def of_run(cls, run: Mapping[str, Any]) -> BuyerScope:
        if run["mode"] == "INCREMENTAL":
            return cls(incremental=True, xid_from=run["xid_from"] or 0)
        return cls(window_from=run["window_from"], window_to=run["window_to"])


class BuyerBatch(NamedTuple):
    """A batch of tokens and what rule B found for them, each finding with its buyer's token."""

    tokens: Sequence[str]
    findings: Sequence[tuple[str, Finding]]


class BatchDone(NamedTuple):
    """A committed batch, as the run records it: its last token and counts."""

    cursor: str
    done: int
    new: int
    resolved: int


@dataclass(frozen=True, slots=True)
class BuyerEvents:
    """One token's SALE events and the SALE_RETURN events that name them."""

    sales: list[Event] = field(default_factory=list)
    refunds: list[Event] = field(default_factory=list)


async def lock_buyer_shards(conn: asyncpg.Connection, tokens: Sequence[str]) -> None:
    """Transaction-scoped locks on the shards of `tokens`, taken in one order so runs cannot deadlock."""
    shards = sorted({persist.shard_of(t) for t in tokens})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, s) FROM (SELECT unnest($2::int[]) AS s ORDER BY 1) q", _LOCK_BUYERS, shards
    )


_TOKENS_ALL = """
SELECT DISTINCT buyer_token FROM events
WHERE kind = 'SALE' AND buyer_token IS NOT NULL AND buyer_token > $1
  AND occurred_at >= coalesce($3, '-infinity'::timestamptz) AND occurred_at < coalesce($4, 'infinity'::timestamptz)
ORDER BY 1 LIMIT $2
"""
# Touched since the last run: a new sale of the buyer, or a new refund of one of the buyer's sales.
_TOKENS_TOUCHED = """
SELECT tok FROM (
    SELECT buyer_token AS tok FROM events
    WHERE kind = 'SALE' AND buyer_token IS NOT NULL AND ingest_xid >= $3
    UNION
    SELECT s.buyer_token FROM events r
    JOIN events s ON s.kind = 'SALE' AND s.party_id = r.party_id AND s.sale_id = r.sale_id
    WHERE r.kind = 'SALE_RETURN' AND r.ingest_xid >= $3 AND s.buyer_token IS NOT NULL
) q
WHERE tok > $1 ORDER BY tok LIMIT $2
"""


async def next_buyer_tokens(conn: asyncpg.Connection, scope: BuyerScope, after: str, limit: int) -> list[str]:
    """The next `limit` tokens of the scope after `after`, in token order (the run's resumable cursor)."""
    if scope.incremental:
        rows = await conn.fetch(_TOKENS_TOUCHED, after, limit, scope.xid_from)
    else:
        rows = await conn.fetch(_TOKENS_ALL, after, limit, scope.window_from, scope.window_to)
    return [r[0] for r in rows]


_SALES = """
SELECT buyer_token, payload::text AS payload FROM events
WHERE kind = 'SALE' AND buyer_token IS NOT NULL AND buyer_token = ANY($1::text[])
"""
_REFUNDS = """
SELECT s.buyer_token, r.payload::text AS payload FROM events s
JOIN events r ON r.kind = 'SALE_RETURN' AND r.party_id = s.party_id AND r.sale_id = s.sale_id
WHERE s.kind = 'SALE' AND s.buyer_token IS NOT NULL AND s.buyer_token = ANY($1::text[])
"""


async def load_buyer_events(conn: asyncpg.Connection, tokens: Sequence[str]) -> dict[str, BuyerEvents]:
    """Every sale of each token, with every refund naming one of them (whatever their time)."""
    out = {t: BuyerEvents() for t in tokens}
    for r in await conn.fetch(_SALES, list(tokens)):
        out[r["buyer_token"]].sales.append(Event.from_json(json.loads(r["payload"])))
    for r in await conn.fetch(_REFUNDS, list(tokens)):
        out[r["buyer_token"]].refunds.append(Event.from_json(json.loads(r["payload"])))
    return out


_EXISTING = """
SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags
WHERE rule = 'B' AND buyer_token = ANY($1::text[])
"""
_TAG = """
UPDATE flags f SET buyer_token = u.token
FROM unnest($1::text[], $2::text[]) AS u(flag_id, token)
WHERE f.flag_id = u.flag_id AND f.buyer_token IS DISTINCT FROM u.token
"""


async def sync_buyer_flags(
    conn: asyncpg.Connection, batch: BuyerBatch, *, run_id: int, now: datetime, parties: Mapping[str, Party]
) -> tuple[int, int]:
    """Make the B flags of the batch's tokens match its findings; return (new, resolved). Same review rules
    as every flag (persist.sync_flags); each flag also carries its buyer token."""
    existing = await conn.fetch(_EXISTING, list(batch.tokens))
    new, resolved = await persist.sync_flags(
        conn, existing, [f for _, f in batch.findings], [], run_id=run_id, now=now, parties=dict(parties)
    )
    if batch.findings:
        await conn.execute(
            _TAG, [persist.flag_id(f.identity) for _, f in batch.findings], [t for t, _ in batch.findings]
        )
    return new, resolved


async def advance_buyers(conn: asyncpg.Connection, run_id: int, batch: BatchDone) -> Mapping[str, Any]:
    """Record a committed batch of tokens on the run (in the batch's transaction); the run row after it."""
    row = await conn.fetchrow(
        """UPDATE reconcile_runs SET buyer_cursor = $2, buyers_done = buyers_done + $3, flags_new = flags_new + $4,
                  flags_resolved = flags_resolved + $5, heartbeat_at = clock_timestamp()
           WHERE run_id = $1 RETURNING *""",
        run_id,
        *batch,
    )
    return dict(row) if row else {}


async def record_rule_params(conn: asyncpg.Connection, run_id: int, params: Mapping[str, Any]) -> None:
    """Write the rule parameters a run applies on its record (at its start; a resumed run reads them back)."""
    await conn.execute(
        "UPDATE reconcile_runs SET rule_params = $2::jsonb WHERE run_id = $1", run_id, json.dumps(params)
    )


def rule_params_of(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run row's recorded parameters (asyncpg gives jsonb as text unless a codec is set)."""
    raw = run.get("rule_params") or {}
    return json.loads(raw) if isinstance(raw, str) else dict(raw)
