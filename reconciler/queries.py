"""Reading what the reconciler found: flags, their review, return chains and suspects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

FLAG_STATUSES = ("OPEN", "CONFIRMED", "DISMISSED", "RESOLVED")
REVIEWABLE = ("OPEN", "CONFIRMED", "DISMISSED")


@dataclass(frozen=True)
class FlagFilter:
    rule: str = ""
    kind: str = ""
    party_id: str = ""
    region: str = ""
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    statuses: tuple[str, ...] = ()  # none: all but RESOLVED
    code: str = ""
    buyer_token: str = ""  # rule B flags of one buyer


class _Where:
    """Builds a WHERE clause with numbered asyncpg parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list = []

    def add(self, sql: str, *values) -> None:
        for v in values:
            self.args.append(v)
            sql = sql.replace("?", f"${len(self.args)}", 1)
        self.parts.append(sql)

    def sql(self) -> str:
        return " AND ".join(self.parts) or "true"


async def list_flags(conn: asyncpg.Connection, f: FlagFilter, after_seq: int, limit: int) -> list[asyncpg.Record]:
    """Flags in flag_seq order after `after_seq`: new flags only ever append, so pages stay stable."""
    w = _Where()
    w.add("flag_seq > ?", after_seq)
    if f.rule:
        w.add("rule = ?", f.rule)
    if f.kind:
        w.add("kind = ?", f.kind)
    if f.party_id:
        w.add("(subject_party = ? OR ? = ANY(related_parties))", f.party_id, f.party_id)
    if f.region:
        w.add("subject_region LIKE ?", f.region + "%")
    if f.occurred_from:
        w.add("decisive_at >= ?", f.occurred_from)
    if f.occurred_to:
        w.add("decisive_at < ?", f.occurred_to)
    if f.statuses:
        w.add("status = ANY(?::text[])", list(f.statuses))
    else:
        w.add("status <> 'RESOLVED'")
    if f.code:
        w.add("code = ?", f.code)
    if f.buyer_token:
        w.add("buyer_token = ?", f.buyer_token)
    return await conn.fetch(f"SELECT * FROM flags WHERE {w.sql()} ORDER BY flag_seq LIMIT {int(limit)}", *w.args)


async def get_flag(conn: asyncpg.Connection, flag_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM flags WHERE flag_id = $1", flag_id)


async def review_flag(conn: asyncpg.Connection, flag_id: str, status: str, note: str,
                      reviewer: str) -> asyncpg.Record | None:
    """Record a reviewer's decision; None when the flag does not exist or was resolved by the reconciler."""
    return await conn.fetchrow(
        """UPDATE flags SET status = $2, review_note = $3, reviewed_by = $4, reviewed_at = clock_timestamp(),
                  updated_at = clock_timestamp()
           WHERE flag_id = $1 AND status <> 'RESOLVED' RETURNING *""", flag_id, status, note, reviewer)


async def list_chains(conn: asyncpg.Connection, *, code: str = "", party_id: str = "", buyer_token: str = "",
                      include_inactive: bool = False, after: str = "", limit: int = 100) -> list[asyncpg.Record]:
    w = _Where()
    w.add("flag_id > ?", after)
    if not include_inactive:
        w.add("active")
    if code:
        w.add("code = ?", code)
    if party_id:
        w.add("(? = ANY(original_sellers) OR reentry_party = ? OR reentry_supplier = ? OR ? = ANY(resale_parties))",
              party_id, party_id, party_id, party_id)
    if buyer_token:
        w.add("? = ANY(buyer_tokens)", buyer_token)
    return await conn.fetch(
        f"SELECT * FROM return_chains WHERE {w.sql()} ORDER BY flag_id LIMIT {int(limit)}", *w.args)


_SUSPECTS = {
    "BUYER": "unnest(buyer_tokens)",
    "SUPPLIER": "reentry_supplier",
    "PHARMACY": "unnest(resale_parties)",
}


async def rank_suspects(conn: asyncpg.Connection, role: str, limit: int) -> list[asyncpg.Record]:
    """Who recurs across active chains in one role, most chains (then most money) first."""
    expr = _SUSPECTS[role]
    return await conn.fetch(
        f"""SELECT id, count(*) AS chains, count(DISTINCT code) AS codes, sum(money_fen)::bigint AS money_fen
            FROM (SELECT {expr} AS id, code, money_fen FROM return_chains WHERE active) s
            WHERE id IS NOT NULL AND id <> ''
            GROUP BY id ORDER BY chains DESC, money_fen DESC, id LIMIT $1""", limit)


async def code_history(conn: asyncpg.Connection, code: str) -> list[asyncpg.Record]:
    """Every event of one code (a sale's lines summed), in (occurred_at, event_id) order."""
    return await conn.fetch(
        """SELECT e.event_id, e.kind, e.occurred_at, e.received_at, e.party_id, e.counterparty_id, e.document_no,
                  coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
                  CASE WHEN bool_or(ec.units IS NULL) THEN NULL ELSE sum(ec.units) END AS units
           FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
           WHERE ec.code = $1
           GROUP BY e.event_seq
           ORDER BY e.occurred_at, e.event_id""", code)


async def events_by_id(conn: asyncpg.Connection, event_ids: list[str]) -> list[str]:
    """Stored payloads (canonical JSON) of the named events, in occurred_at order."""
    rows = await conn.fetch(
        "SELECT payload::text AS p FROM events WHERE event_id = ANY($1::text[]) ORDER BY occurred_at, event_id",
        event_ids)
    return [r["p"] for r in rows]


async def flags_of_party(conn: asyncpg.Connection, party_id: str, after_seq: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM flags WHERE (subject_party = $1 OR $1 = ANY(related_parties)) AND flag_seq > $2
           ORDER BY flag_seq LIMIT $3""", party_id, after_seq, limit)
