"""Rule B's input and output per buyer token: a token's sales and refunds, its B flags."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import asyncpg

from reconciler.rules.model import Finding
from reconciler.store.runs import Mode, RunInfo
from reconciler.store.sync import flag_id, flags_of_buyers, sync_flags
from tracesvc.domain.events import Event
from tracesvc.domain.registry import Party


@dataclass(frozen=True, slots=True)
class BuyerEvents:
    """One token's SALE events and the SALE_RETURN events that name them."""

    sales: list[Event] = field(default_factory=list)
    refunds: list[Event] = field(default_factory=list)


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


class BuyerFinding(NamedTuple):
    token: str
    finding: Finding


_TAG_BUYERS = """
UPDATE flags f SET buyer_token = u.token
FROM unnest($1::text[], $2::text[]) AS u(flag_id, token)
WHERE f.flag_id = u.flag_id AND f.buyer_token IS DISTINCT FROM u.token
"""


async def sync_buyer_flags(
    conn: asyncpg.Connection,
    tokens: Sequence[str],
    found: Sequence[BuyerFinding],
    *,
    run_id: int,
    now: datetime,
    parties: Mapping[str, Party],
) -> tuple[int, int]:
    """Make the B flags of these tokens match their findings; return (new, resolved). The same review
    rules as every flag (sync_flags); each flag also carries its buyer's token."""
    existing = await flags_of_buyers(conn, tokens)
    new, resolved = await sync_flags(
        conn, existing, [b.finding for b in found], [], run_id=run_id, now=now, parties=parties
    )
    if found:
        await conn.execute(_TAG_BUYERS, [flag_id(b.finding.identity) for b in found], [b.token for b in found])
    return new, resolved
