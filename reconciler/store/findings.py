"""Reading findings back: flags by filter, a flag and its review, return chains (typed rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tracesvc.store.findings import CHAIN_COLUMNS, FLAG_COLUMNS, ChainRow, FlagRow, chain_from_record, flag_from_record

FLAG_STATUSES = ("OPEN", "CONFIRMED", "DISMISSED", "RESOLVED")


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
    case_id: str = ""  # the flags one case holds


class _Where:
    """Builds a WHERE clause with numbered asyncpg parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def add(self, sql: str, *values: Any) -> None:
        for v in values:
            self.args.append(v)
            sql = sql.replace("?", f"${len(self.args)}", 1)
        self.parts.append(sql)

    def sql(self) -> str:
        return " AND ".join(self.parts) or "true"


def _flag_where(f: FlagFilter, after_seq: int) -> _Where:
    w = _Where()
    w.add("flag_seq > ?", after_seq)
    for column, value in (("rule", f.rule), ("kind", f.kind), ("code", f.code), ("buyer_token", f.buyer_token)):
        if value:
            w.add(f"{column} = ?", value)
    if f.case_id:
        w.add("flag_id IN (SELECT ref FROM case_members WHERE kind = 'FLAG' AND case_id = ?)", f.case_id)
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
    return w


async def list_flags(conn: asyncpg.Connection, f: FlagFilter, after_seq: int, limit: int) -> list[FlagRow]:
    """Flags in flag_seq order after `after_seq`: new flags only ever append, so pages stay stable."""
    w = _flag_where(f, after_seq)
    rows = await conn.fetch(
        f"SELECT {FLAG_COLUMNS} FROM flags WHERE {w.sql()} ORDER BY flag_seq LIMIT {int(limit)}", *w.args
    )
    return [flag_from_record(r) for r in rows]


async def get_flag(conn: asyncpg.Connection, flag_id: str) -> FlagRow | None:
    row = await conn.fetchrow(f"SELECT {FLAG_COLUMNS} FROM flags WHERE flag_id = $1", flag_id)
    return flag_from_record(row) if row else None


async def flag_ids_with_prefix(conn: asyncpg.Connection, prefix: str, limit: int = 2) -> list[str]:
    """Flag ids that start with `prefix` (hex digits only: no LIKE wildcard can reach the query)."""
    rows = await conn.fetch(
        "SELECT flag_id FROM flags WHERE flag_id >= $1 AND flag_id < $1 || 'g' ORDER BY flag_id LIMIT $2",
        prefix.lower(),
        limit,
    )
    return [r["flag_id"] for r in rows]


async def flags_of_party(conn: asyncpg.Connection, party_id: str, after_seq: int, limit: int) -> list[FlagRow]:
    rows = await conn.fetch(
        f"""SELECT {FLAG_COLUMNS} FROM flags WHERE (subject_party = $1 OR $1 = ANY(related_parties))
            AND flag_seq > $2 ORDER BY flag_seq LIMIT $3""",
        party_id,
        after_seq,
        limit,
    )
    return [flag_from_record(r) for r in rows]


async def all_flags_of_party(conn: asyncpg.Connection, party_id: str, page: int = 500) -> list[FlagRow]:
    """Every flag naming a party (as subject or related), read page by page in flag order."""
    flags: list[FlagRow] = []
    after = 0
    while rows := await flags_of_party(conn, party_id, after, page):
        flags += rows
        after = rows[-1].flag_seq
    return flags


async def list_chains(
    conn: asyncpg.Connection,
    *,
    code: str = "",
    party_id: str = "",
    buyer_token: str = "",
    include_inactive: bool = False,
    after: str = "",
    limit: int = 100,
) -> list[ChainRow]:
    w = _Where()
    w.add("flag_id > ?", after)
    if not include_inactive:
        w.add("active")
    if code:
        w.add("code = ?", code)
    if party_id:
        w.add(
            "(? = ANY(original_sellers) OR reentry_party = ? OR reentry_supplier = ? OR ? = ANY(resale_parties))",
            party_id,
            party_id,
            party_id,
            party_id,
        )
    if buyer_token:
        w.add("? = ANY(buyer_tokens)", buyer_token)
    rows = await conn.fetch(
        f"SELECT {CHAIN_COLUMNS} FROM return_chains WHERE {w.sql()} ORDER BY flag_id LIMIT {int(limit)}", *w.args
    )
    return [chain_from_record(r) for r in rows]


async def chain_of_flag(conn: asyncpg.Connection, flag_id: str) -> ChainRow | None:
    row = await conn.fetchrow(f"SELECT {CHAIN_COLUMNS} FROM return_chains WHERE flag_id = $1", flag_id)
    return chain_from_record(row) if row else None
