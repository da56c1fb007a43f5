"""Officers: the person behind an inspector's or regulator's API key (name, 执法证号, title), so a
case log names who did what. Bound by the operator (`tracesvc case officer`), read when a log line
is written (the line keeps the name it was written with)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Officer:
    key_id: str
    name: str
    cert_no: str  # 执法证号
    title: str  # e.g. 承办人, 审核人


async def bind(conn: asyncpg.Connection, officer: Officer) -> bool:
    """Bind (or re-bind) the officer to an existing key; False when there is no such key."""
    if not await conn.fetchval("SELECT 1 FROM api_keys WHERE key_id = $1", officer.key_id):
        return False
    await conn.execute(
        """INSERT INTO officers (key_id, name, cert_no, title) VALUES ($1, $2, $3, $4)
           ON CONFLICT (key_id) DO UPDATE SET name = $2, cert_no = $3, title = $4, updated_at = now()""",
        officer.key_id,
        officer.name,
        officer.cert_no,
        officer.title,
    )
    return True


async def by_key(conn: asyncpg.Connection, key_ids: list[str]) -> dict[str, Officer]:
    rows = await conn.fetch("SELECT key_id, name, cert_no, title FROM officers WHERE key_id = ANY($1::text[])", key_ids)
    return {r["key_id"]: Officer(r["key_id"], r["name"], r["cert_no"], r["title"]) for r in rows}
