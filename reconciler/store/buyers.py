"""Rule B's input and output per buyer token: a token's sales and refunds, its B flags."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from reconciler.rules.model import BuyerEvents
from reconciler.store.runs import Mode, RunInfo
from tracesvc.domain.events import Event

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


async def next_buyer_tokens(conn: asyncpg.Connection, run: RunInfo, after: str, limit: int) -> list[str]:
    """The next `limit` buyer tokens a run evaluates after `after`, in token order (its resumable cursor):
    incremental, those touched since the last run; full, those with a sale in the window (or all)."""
    if run.mode is Mode.INCREMENTAL:
        rows = await conn.fetch(_TOKENS_TOUCHED, after, limit, run.xid_from or 0)
    else:
        rows = await conn.fetch(_TOKENS_ALL, after, limit, run.window_from, run.window_to)
    return [r[0] for r in rows]


_BUYER_SALES = """
SELECT buyer_token, payload::text AS payload FROM events
WHERE kind = 'SALE' AND buyer_token IS NOT NULL AND buyer_token = ANY($1::text[])
"""
_BUYER_REFUNDS = """
SELECT s.buyer_token, r.payload::text AS payload FROM events s
JOIN events r ON r.kind = 'SALE_RETURN' AND r.party_id = s.party_id AND r.sale_id = s.sale_id
WHERE s.kind = 'SALE' AND s.buyer_token IS NOT NULL AND s.buyer_token = ANY($1::text[])
"""


async def load_buyer_events(conn: asyncpg.Connection, tokens: Sequence[str]) -> dict[str, BuyerEvents]:
    """Every sale of each token, with every refund naming one of them (whatever their time)."""
    out = {t: BuyerEvents() for t in tokens}
    for r in await conn.fetch(_BUYER_SALES, list(tokens)):
        out[r["buyer_token"]].sales.append(Event.from_json(json.loads(r["payload"])))
    for r in await conn.fetch(_BUYER_REFUNDS, list(tokens)):
        out[r["buyer_token"]].refunds.append(Event.from_json(json.loads(r["payload"])))
    return out
