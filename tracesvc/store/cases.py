"""SQL for enforcement cases: cases, members, the append-only case log, bulk review, and what
suggested cases and case files read (flags, chains, batches, timelines). Typed rows out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tracesvc.store.findings import CHAIN_COLUMNS, FLAG_COLUMNS, ChainRow, FlagRow, chain_from_record, flag_from_record

CLOSED = ("CLOSED_CONFIRMED", "CLOSED_DISMISSED")


@dataclass(frozen=True)
class CaseRow:
    case_seq: int
    case_id: str
    title: str
    subject_parties: tuple[str, ...]
    region: str
    assignee: str
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    flag_count: int
    money_fen: int
    deadline: datetime | None = None


@dataclass(frozen=True)
class MemberRow:
    kind: str
    ref: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class LogRow:
    log_seq: int
    case_id: str
    at: datetime
    actor: str
    role: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str
    detail: str
    case_no: int = 0  # the line's number within its case: 1, 2, 3…
    actor_name: str = ""  # the officer bound to the key then (name, 执法证号)
    actor_cert: str = ""


@dataclass(frozen=True)
class AttachmentRow:
    """A document of a case, stored whole; `sha256` is the digest of `content`."""

    attachment_id: str
    case_id: str
    kind: str
    file_name: str
    media_type: str
    description: str
    sha256: str
    size: int
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class ReadRow:
    """One audited read of a case."""

    at: datetime
    key_id: str
    role: str
    method: str
    officer_name: str
    officer_cert: str


@dataclass(frozen=True)
class StandingFlag:
    """What suggested cases need of a flag that stands (OPEN or CONFIRMED) and no case holds."""

    flag_id: str
    rule: str
    kind: str
    code: str
    decisive_event_id: str
    subject_party: str
    subject_region: str
    money_fen: int
    buyer_token: str = ""  # rule B: the buyer's keyed hash


@dataclass(frozen=True)
class EventRecord:
    """One cited event: its canonical stored JSON and the SHA-256 computed when it arrived."""

    event_id: str
    kind: str
    occurred_at: datetime
    party_id: str
    counterparty_id: str
    document_no: str
    sha256: str
    payload: str


@dataclass(frozen=True)
class TimelineRow:
    """One event of a code's custody timeline, or of a buyer's purchases."""

    subject: str  # the code, or the buyer token
    event_id: str
    kind: str
    occurred_at: datetime
    party_id: str
    counterparty_id: str
    document_no: str
    sale_id: str
    units: int | None  # None: the whole pack
    fund_paid_fen: int


@dataclass(frozen=True)
class CaseFilter:
    statuses: tuple[str, ...] = ()
    party_id: str = ""
    region: str = ""
    assignee: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str = ""  # words in the title, id, subjects, assignee or a log reason
    overdue: bool = False  # past the deadline and not closed


# -- cases -------------------------------------------------------------------------------------

_CASE_SELECT = """
SELECT c.*, coalesce(m.flag_count, 0) AS flag_count, coalesce(m.money_fen, 0) AS money_fen
FROM cases c
LEFT JOIN LATERAL (
    SELECT sum(d.n)::int AS flag_count, sum(d.money)::bigint AS money_fen
    FROM (SELECT count(*) AS n, max(f.money_fen) AS money
          FROM case_members cm JOIN flags f ON f.flag_id = cm.ref
          WHERE cm.case_id = c.case_id AND cm.kind = 'FLAG'
          GROUP BY f.decisive_event_id) d
) m ON true
"""


def _case(r: asyncpg.Record) -> CaseRow:
    return CaseRow(
        r["case_seq"],
        r["case_id"],
        r["title"],
        tuple(r["subject_parties"]),
        r["region"],
        r["assignee"],
        r["status"],
        r["created_by"],
        r["created_at"],
        r["updated_at"],
        r["flag_count"],
        r["money_fen"],
        r["deadline"],
    )


async def insert_case(
    conn: asyncpg.Connection,
    case_id: str,
    *,
    title: str,
    subject_parties: Sequence[str],
    region: str,
    assignee: str,
    status: str,
    created_by: str,
) -> None:
    await conn.execute(
        """INSERT INTO cases (case_id, title, subject_parties, region, assignee, status, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        case_id,
        title,
        list(subject_parties),
        region,
        assignee,
        status,
        created_by,
    )


async def lock_case(conn: asyncpg.Connection, case_id: str) -> str | None:
    """Lock the case row for this transaction; its status, or None when there is no such case."""
    return await conn.fetchval("SELECT status FROM cases WHERE case_id = $1 FOR UPDATE", case_id)


async def set_status(conn: asyncpg.Connection, case_id: str, status: str) -> None:
    await conn.execute(
        "UPDATE cases SET status = $2, updated_at = clock_timestamp() WHERE case_id = $1", case_id, status
    )


async def touch(conn: asyncpg.Connection, case_id: str) -> None:
    await conn.execute("UPDATE cases SET updated_at = clock_timestamp() WHERE case_id = $1", case_id)


async def append_log(
    conn: asyncpg.Connection,
    case_id: str,
    actor: str,
    role: str,
    action: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str = "",
    detail: str = "",
) -> None:
    """One log line, numbered next within its case (callers hold the case row's lock, or created it in
    this transaction), naming the officer bound to the key now."""
    await conn.execute(
        """INSERT INTO case_log (case_id, actor, role, action, from_status, to_status, reason, detail,
                                 case_no, actor_name, actor_cert)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8,
                  coalesce((SELECT max(case_no) FROM case_log WHERE case_id = $1), 0) + 1,
                  coalesce(o.name, ''), coalesce(o.cert_no, '')
           FROM (SELECT 1) one LEFT JOIN officers o ON o.key_id = $2""",
        case_id,
        actor,
        role,
        action,
        from_status,
        to_status,
        reason,
        detail,
    )


async def get_case(conn: asyncpg.Connection, case_id: str) -> CaseRow | None:
    r = await conn.fetchrow(_CASE_SELECT + " WHERE c.case_id = $1", case_id)
    return _case(r) if r else None


async def list_cases(conn: asyncpg.Connection, f: CaseFilter, after_seq: int, limit: int) -> list[CaseRow]:
    """Cases in creation order after `after_seq`."""
    parts: list[str] = ["c.case_seq > $1"]
    args: list[object] = [after_seq]
    for sql, value in (
        ("c.status = ANY(${}::text[])", list(f.statuses)),
        ("${} = ANY(c.subject_parties)", f.party_id),
        ("c.region LIKE ${}", f.region + "%" if f.region else ""),
        ("c.assignee = ${}", f.assignee),
        ("c.created_at >= ${}", f.created_from),
        ("c.created_at < ${}", f.created_to),
    ):
        if value:
            args.append(value)
            parts.append(sql.format(len(args)))
    for word in f.text.split():
        args.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = len(args)
        parts.append(
            f"(c.title ILIKE ${n} OR c.case_id ILIKE ${n} OR c.assignee ILIKE ${n}"
            f" OR array_to_string(c.subject_parties, ' ') ILIKE ${n}"
            f" OR EXISTS (SELECT 1 FROM case_log l WHERE l.case_id = c.case_id AND l.reason ILIKE ${n}))"
        )
    if f.overdue:
        parts.append("c.deadline < now() AND c.status NOT IN ('CLOSED_CONFIRMED', 'CLOSED_DISMISSED')")
    rows = await conn.fetch(f"{_CASE_SELECT} WHERE {' AND '.join(parts)} ORDER BY c.case_seq LIMIT {int(limit)}", *args)
    return [_case(r) for r in rows]


async def members(conn: asyncpg.Connection, case_id: str) -> list[MemberRow]:
    rows = await conn.fetch(
        "SELECT kind, ref, added_by, added_at FROM case_members WHERE case_id = $1 ORDER BY added_at, kind, ref",
        case_id,
    )
    return [MemberRow(r["kind"], r["ref"], r["added_by"], r["added_at"]) for r in rows]


async def case_log(conn: asyncpg.Connection, case_id: str) -> list[LogRow]:
    rows = await conn.fetch("SELECT * FROM case_log WHERE case_id = $1 ORDER BY log_seq", case_id)
    return [_log(r) for r in rows]


def _log(r: asyncpg.Record) -> LogRow:
    return LogRow(
        r["log_seq"],
        r["case_id"],
        r["at"],
        r["actor"],
        r["role"],
        r["action"],
        r["from_status"],
        r["to_status"],
        r["reason"],
        r["detail"],
        r["case_no"],
        r["actor_name"],
        r["actor_cert"],
    )


async def set_fields(conn: asyncpg.Connection, case_id: str, **fields: object) -> None:
    """Change title, assignee or deadline (names checked here, values by the caller)."""
    allowed = {"title", "assignee", "deadline"}
    assert set(fields) <= allowed, fields
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(fields, 2))
    await conn.execute(
        f"UPDATE cases SET {sets}, updated_at = clock_timestamp() WHERE case_id = $1", case_id, *fields.values()
    )


# -- attachments and reads -----------------------------------------------------------------------

_ATTACHMENT_COLUMNS = (
    "attachment_id, case_id, kind, file_name, media_type, description, sha256, size, added_by, added_at"
)


async def insert_attachment(conn: asyncpg.Connection, row: AttachmentRow, content: bytes) -> None:
    await conn.execute(
        f"""INSERT INTO case_attachments ({_ATTACHMENT_COLUMNS}, content)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        row.attachment_id,
        row.case_id,
        row.kind,
        row.file_name,
        row.media_type,
        row.description,
        row.sha256,
        row.size,
        row.added_by,
        row.added_at,
        content,
    )


async def attachments(conn: asyncpg.Connection, case_id: str) -> list[AttachmentRow]:
    rows = await conn.fetch(
        f"SELECT {_ATTACHMENT_COLUMNS} FROM case_attachments WHERE case_id = $1 ORDER BY added_at, attachment_id",
        case_id,
    )
    return [AttachmentRow(*r) for r in rows]


async def attachment_digests(conn: asyncpg.Connection, case_id: str) -> dict[str, str]:
    """attachment_id → SHA-256 recomputed from the stored bytes now."""
    rows = await conn.fetch(
        "SELECT attachment_id, encode(sha256(content), 'hex') AS h FROM case_attachments WHERE case_id = $1", case_id
    )
    return {r["attachment_id"]: r["h"] for r in rows}


async def case_reads(conn: asyncpg.Connection, case_id: str) -> list[ReadRow]:
    """Every audited read of the case, oldest first, with the officer behind each key."""
    rows = await conn.fetch(
        """SELECT a.at, a.key_id, a.role, a.method, coalesce(o.name, '') AS name, coalesce(o.cert_no, '') AS cert
           FROM audit_log a LEFT JOIN officers o ON o.key_id = a.key_id
           WHERE a.target = 'case:' || $1 ORDER BY a.at, a.audit_id""",
        case_id,
    )
    return [ReadRow(r["at"], r["key_id"], r["role"], r["method"], r["name"], r["cert"]) for r in rows]


async def add_members(
    conn: asyncpg.Connection, case_id: str, refs: Sequence[tuple[str, str]], added_by: str
) -> list[tuple[str, str]]:
    """Add (kind, ref) members; return those that were not there already."""
    rows = await conn.fetch(
        """INSERT INTO case_members (case_id, kind, ref, added_by)
           SELECT $1, k, r, $4 FROM unnest($2::text[], $3::text[]) AS u(k, r)
           ON CONFLICT DO NOTHING RETURNING kind, ref""",
        case_id,
        [k for k, _ in refs],
        [r for _, r in refs],
        added_by,
    )
    return [(r["kind"], r["ref"]) for r in rows]


async def remove_members(
    conn: asyncpg.Connection, case_id: str, refs: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        """DELETE FROM case_members cm USING unnest($2::text[], $3::text[]) AS u(k, r)
           WHERE cm.case_id = $1 AND cm.kind = u.k AND cm.ref = u.r RETURNING cm.kind, cm.ref""",
        case_id,
        [k for k, _ in refs],
        [r for _, r in refs],
    )
    return [(r["kind"], r["ref"]) for r in rows]


async def case_of_flags(conn: asyncpg.Connection, flag_ids: Sequence[str]) -> dict[str, str]:
    """flag_id → the case holding it, for those a case holds."""
    rows = await conn.fetch(
        "SELECT ref, case_id FROM case_members WHERE kind = 'FLAG' AND ref = ANY($1::text[])", list(flag_ids)
    )
    return {r["ref"]: r["case_id"] for r in rows}


async def existing(conn: asyncpg.Connection, kind: str, refs: Sequence[str]) -> set[str]:
    """Which of these flags (FLAG), chains (CHAIN) or codes (CODE) exist."""
    sql = {
        "FLAG": "SELECT flag_id AS v FROM flags WHERE flag_id = ANY($1::text[])",
        "CHAIN": "SELECT flag_id AS v FROM return_chains WHERE flag_id = ANY($1::text[])",
        "CODE": "SELECT DISTINCT code AS v FROM event_codes WHERE code = ANY($1::text[])",
    }[kind]
    return {r["v"] for r in await conn.fetch(sql, list(refs))}


# -- flags -------------------------------------------------------------------------------------


async def flags_by_id(conn: asyncpg.Connection, flag_ids: Sequence[str]) -> list[FlagRow]:
    rows = await conn.fetch(
        f"SELECT {FLAG_COLUMNS} FROM flags WHERE flag_id = ANY($1::text[]) ORDER BY flag_seq",
        list(flag_ids),
    )
    return [flag_from_record(r) for r in rows]


async def standing_flags(conn: asyncpg.Connection) -> list[StandingFlag]:
    """Flags that stand (OPEN or CONFIRMED) and no case holds yet."""
    rows = await conn.fetch(
        """SELECT f.flag_id, f.rule, f.kind, f.code, f.decisive_event_id, f.subject_party, f.subject_region,
                  f.money_fen, coalesce(f.buyer_token, '') AS buyer_token
           FROM flags f
           WHERE f.status IN ('OPEN', 'CONFIRMED')
             AND NOT EXISTS (SELECT 1 FROM case_members cm WHERE cm.kind = 'FLAG' AND cm.ref = f.flag_id)
           ORDER BY f.flag_seq"""
    )
    return [
        StandingFlag(
            r["flag_id"],
            r["rule"],
            r["kind"],
            r["code"],
            r["decisive_event_id"],
            r["subject_party"],
            r["subject_region"],
            r["money_fen"],
            r["buyer_token"],
        )
        for r in rows
    ]


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def chains(conn: asyncpg.Connection, flag_ids: Sequence[str] | None = None) -> list[ChainRow]:
    """The named chains (any state), or every active chain when `flag_ids` is None."""
    if flag_ids is None:
        rows = await conn.fetch(f"SELECT {CHAIN_COLUMNS} FROM return_chains WHERE active ORDER BY flag_id")
    else:
        rows = await conn.fetch(
            f"SELECT {CHAIN_COLUMNS} FROM return_chains WHERE flag_id = ANY($1::text[]) ORDER BY flag_id",
            list(flag_ids),
        )
    return [chain_from_record(r) for r in rows]


async def batches_of_codes(conn: asyncpg.Connection, codes: Sequence[str]) -> list[tuple[str, str]]:
    """(code, batch) for each batch number any custody event declared for these codes."""
    rows = await conn.fetch(
        """SELECT DISTINCT code, batch FROM event_codes
           WHERE code = ANY($1::text[]) AND coalesce(batch, '') <> ''""",
        list(codes),
    )
    return [(r["code"], r["batch"]) for r in rows]


# -- what a case file cites ----------------------------------------------------------------------


async def events_with_digests(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[EventRecord]:
    rows = await conn.fetch(
        """SELECT event_id, kind, occurred_at, party_id, counterparty_id, document_no, content_hash,
                  payload::text AS payload
           FROM events WHERE event_id = ANY($1::text[]) ORDER BY occurred_at, event_id""",
        list(event_ids),
    )
    return [
        EventRecord(
            r["event_id"],
            r["kind"],
            r["occurred_at"],
            r["party_id"],
            r["counterparty_id"],
            r["document_no"],
            bytes(r["content_hash"]).hex(),
            r["payload"],
        )
        for r in rows
    ]


_FUND = "e.fund_paid_fen"  # derived at ingest: a sale's fund paid, never read from the payload by position


async def code_timelines(conn: asyncpg.Connection, codes: Sequence[str]) -> list[TimelineRow]:
    """Every event of these codes (a sale's lines summed), by code, in (occurred_at, event_id) order."""
    rows = await conn.fetch(
        f"""SELECT ec.code AS subject, e.event_id, e.kind, e.occurred_at, e.party_id, e.counterparty_id,
                   e.document_no, coalesce(e.sale_id, '') AS sale_id,
                   CASE WHEN bool_or(ec.units IS NULL) THEN NULL ELSE sum(ec.units) END AS units,
                   CASE WHEN e.kind = 'SALE' THEN {_FUND} ELSE 0 END AS fund
            FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
            WHERE ec.code = ANY($1::text[])
            GROUP BY ec.code, e.event_seq
            ORDER BY ec.code, e.occurred_at, e.event_id""",
        list(codes),
    )
    return [_timeline(r) for r in rows]


async def buyer_timelines(conn: asyncpg.Connection, tokens: Sequence[str]) -> list[TimelineRow]:
    """Every sale to these buyer tokens, by token, in (occurred_at, event_id) order."""
    rows = await conn.fetch(
        f"""SELECT e.buyer_token AS subject, e.event_id, e.kind, e.occurred_at, e.party_id, e.counterparty_id,
                   e.document_no, coalesce(e.sale_id, '') AS sale_id, NULL::int AS units, {_FUND} AS fund
            FROM events e WHERE e.kind = 'SALE' AND e.buyer_token = ANY($1::text[])
            ORDER BY e.buyer_token, e.occurred_at, e.event_id""",
        list(tokens),
    )
    return [_timeline(r) for r in rows]


def _timeline(r: asyncpg.Record) -> TimelineRow:
    return TimelineRow(
        r["subject"],
        r["event_id"],
        r["kind"],
        r["occurred_at"],
        r["party_id"],
        r["counterparty_id"],
        r["document_no"],
        r["sale_id"],
        r["units"],
        int(r["fund"] or 0),
    )
