"""The reconciler's SQL, in one place: loading events for the rules, writing flags and chains,
recording runs, and reading the findings back — every result a typed row.

Everything a batch touches is keyed by code (or, for rule S, by sale event), and a batch
holds advisory locks on the shards of those keys only: two runs never work on the same
codes at once, and nothing takes a global lock.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.rules.buyer import BuyerParams
from reconciler.rules.model import ChainEntry, ChainSale, CodeEvent, Finding, Reference, ReturnChain
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import Party
from tracesvc.store.flags import FLAG_COLUMNS, FlagRow, flag_from_record
from tracesvc.store.registry import load_parties, load_products

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


# -- loading ------------------------------------------------------------------------------------


async def load_reference(engine: AsyncEngine) -> Reference:
    async with engine.connect() as conn:
        parties = await load_parties(conn)
        products = {p.prefix: p for p, _ in await load_products(conn)}
        listed = frozenset((await conn.exec_driver_sql("SELECT prefix FROM commissioned_products")).scalars())
    return Reference(parties, products, listed_products=listed)


# What the rules see of a code's events, shared with the Spark engine's partitioned reads so both
# engines judge the same rows: trace codes only, retracted events (EPCIS errorDeclaration) left out.
# A sale row carries the code's share of its line's fund paid (fund_paid × the line's scans of this
# code ÷ its scans, rounded down), computed here so no line travels as JSON to be parsed in Python.
CODE_EVENT_COLUMNS = """ec.code, ec.units, ec.line_no, e.event_seq, e.event_id, e.kind, e.party_id, e.occurred_at,
       e.counterparty_id, coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
       CASE WHEN e.kind = 'SALE' THEN coalesce(
           (e.payload #>> ARRAY['lines', ec.line_no::text, '5'])::bigint
           * (SELECT count(*) FROM jsonb_array_elements(e.payload #> ARRAY['lines', ec.line_no::text, '6']) s
              WHERE s ->> 0 = ec.code)
           / greatest(1, jsonb_array_length(e.payload #> ARRAY['lines', ec.line_no::text, '6'])), 0)
       ELSE 0 END AS fund"""
CODE_EVENT_SOURCE = """FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
WHERE ec.is_trace
  AND NOT EXISTS (SELECT 1 FROM intake_evidence r WHERE r.kind = 'RETRACTION' AND r.target_event_id = e.event_id)"""
# Whether a sale was retracted, as a column of a query over `events`.
SALE_RETRACTED = """EXISTS (SELECT 1 FROM intake_evidence r
                           WHERE r.kind = 'RETRACTION' AND r.target_event_id = events.event_id) AS retracted"""

# The batch's codes also as a range: a batch is consecutive codes, and the range makes it one scan of
# event_codes' key in code order (the array alone got a scan of the whole table per batch).
_CODE_EVENTS = (
    f"SELECT {CODE_EVENT_COLUMNS}\n{CODE_EVENT_SOURCE}\n"
    "AND ec.code = ANY($1::text[]) AND ec.code >= $2 AND ec.code <= $3"
)
_CODE_EVENT_NAMES = (
    "code",
    "units",
    "line_no",
    "event_seq",
    "event_id",
    "kind",
    "party_id",
    "occurred_at",
    "counterparty_id",
    "sale_id",
    "buyer_token",
    "fund",
)
_KINDS = {k.value: k for k in EventKind}


async def load_code_events(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, list[CodeEvent]]:
    """Every event of each code, one CodeEvent per (code, event) with a sale's lines summed."""
    if not codes:
        return {}
    return code_events_from_rows(await conn.fetch(_CODE_EVENTS, list(codes), min(codes), max(codes)))


def code_events_from_rows(rows: Iterable[Any]) -> dict[str, list[CodeEvent]]:
    """Rows of CODE_EVENT_COLUMNS (asyncpg records, or dicts from Arrow in the Spark engine) as
    CodeEvents per code. One code on several lines of one sale is one event: units and fund summed."""
    out: dict[str, list[CodeEvent]] = defaultdict(list)
    seen: dict[tuple[str, int], int] = {}  # (code, event_seq) -> index in out[code], for the rare merges
    kinds = _KINDS
    for row in rows:
        values = [row[name] for name in _CODE_EVENT_NAMES] if type(row) is dict else row
        code, units, _, seq, event_id, kind, party, at, counterparty, sale_id, buyer, fund = values
        events = out[code]
        key = (code, seq)
        at_index = seen.get(key)
        if at_index is None:
            seen[key] = len(events)
            events.append(CodeEvent(event_id, kinds[kind], party, at, counterparty, units, sale_id, buyer, fund))
        else:
            prev = events[at_index]
            total = None if prev.units is None or units is None else prev.units + units
            events[at_index] = CodeEvent(
                event_id, prev.kind, party, at, counterparty, total, sale_id, buyer, prev.fund_paid_fen + fund
            )
    return out


class SaleKeys(NamedTuple):
    """The next sales a run's sale phase judges: their event ids (the keys it locks) and the storage
    position of the last one (its cursor)."""

    event_ids: list[str]
    last_seq: int


async def next_sales(conn: asyncpg.Connection, scope: Scope, after_seq: int, limit: int) -> SaleKeys | None:
    """The next SALE events in storage order within a run's scope, by id only (cheap: no payload)."""
    n = len(scope.args)
    rows = await conn.fetch(
        f"""SELECT event_seq, event_id FROM events
            WHERE kind = 'SALE' AND {scope.sql} AND event_seq > ${n + 1} ORDER BY event_seq LIMIT ${n + 2}""",
        *scope.args,
        after_seq,
        limit,
    )
    return SaleKeys([r["event_id"] for r in rows], rows[-1]["event_seq"]) if rows else None


async def load_sales(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[Event]:
    """These SALE events as rule S judges them."""
    rows = await conn.fetch(
        f"SELECT payload::text AS payload, {SALE_RETRACTED} FROM events WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )
    # A retracted sale (EPCIS errorDeclaration) comes back without lines: it shows no substitution, so
    # its earlier S flags are resolved by the run like any finding that later evidence undoes.
    return [sale_as_judged(r["payload"], r["retracted"]) for r in rows]


def sale_as_judged(payload: str, retracted: bool) -> Event:
    """A stored sale as rule S judges it: a retracted sale (EPCIS errorDeclaration) has no lines."""
    return _unless_retracted(Event.from_json(json.loads(payload)), retracted)


def _unless_retracted(ev: Event, retracted: bool) -> Event:
    return ev.evolve(lines=()) if retracted else ev


async def commissioned_among(conn: asyncpg.Connection, codes: Iterable[str]) -> frozenset[str]:
    rows = await conn.fetch("SELECT code FROM commissioned_codes WHERE code = ANY($1::text[])", list(set(codes)))
    return frozenset(r["code"] for r in rows)


# -- writing flags and chains -------------------------------------------------------------------


def flag_id(identity: tuple[str, str, str, str]) -> str:
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:32]


def _content_hash(f: Finding) -> bytes:
    content = [
        f.severity.value,
        f.subject_party,
        list(f.related_parties),
        list(f.evidence),
        f.money_fen,
        f.detail,
        f.decisive_at.isoformat(),
    ]
    return hashlib.sha256(json.dumps(content).encode()).digest()


_INSERT_FLAGS = """
INSERT INTO flags (flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party,
                   subject_region, related_parties, evidence, money_fen, detail, content_hash, status,
                   detected_at, detected_run, updated_at)
SELECT u.flag_id, u.rule, u.kind, u.severity, u.code, u.decisive_event_id, u.decisive_at, u.subject_party,
       u.subject_region, string_to_array(u.related, E'\\x1f'), string_to_array(u.evidence, E'\\x1f'),
       u.money_fen, u.detail, u.content_hash, 'OPEN', $15, $16, $15
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::bytea[])
     AS u(flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region,
          related, evidence, money_fen, detail, content_hash)
ON CONFLICT (flag_id) DO NOTHING
"""
_REFRESH_FLAGS = """
UPDATE flags f SET severity = u.severity, subject_party = u.subject_party, subject_region = u.subject_region,
       related_parties = string_to_array(u.related, E'\\x1f'), evidence = string_to_array(u.evidence, E'\\x1f'),
       money_fen = u.money_fen, detail = u.detail, decisive_at = u.decisive_at, content_hash = u.content_hash,
       updated_at = $10,
       status = CASE WHEN f.status = 'RESOLVED' THEN 'OPEN' ELSE f.status END,
       resolved_at = CASE WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_at END,
       resolved_reason = CASE WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_reason END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::bytea[], $11::timestamptz[])
     AS u(flag_id, severity, subject_party, subject_region, related, evidence, money_fen, detail, content_hash,
          decisive_at)
WHERE f.flag_id = u.flag_id
"""
_RESOLVE_FLAGS = """
UPDATE flags f SET status = 'RESOLVED', resolved_at = $3, updated_at = $3, resolved_reason = u.reason
FROM unnest($1::text[], $2::text[]) AS u(flag_id, reason)
WHERE f.flag_id = u.flag_id AND f.status = 'OPEN'
"""
_UPSERT_CHAINS = """
INSERT INTO return_chains (flag_id, code, active, originals, reentry, resales, buyer_tokens, original_sellers,
                           reentry_party, reentry_supplier, resale_parties, money_fen, updated_at)
SELECT u.flag_id, u.code, true, u.originals::jsonb, u.reentry::jsonb, u.resales::jsonb,
       string_to_array(u.buyers, E'\\x1f'), string_to_array(u.sellers, E'\\x1f'), u.reentry_party,
       u.reentry_supplier, string_to_array(u.resellers, E'\\x1f'), u.money_fen, $13
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::bigint[], $12::bool[])
     AS u(flag_id, code, originals, reentry, resales, buyers, sellers, reentry_party, reentry_supplier,
          resellers, money_fen, unused)
ON CONFLICT (flag_id) DO UPDATE SET active = true, originals = excluded.originals, reentry = excluded.reentry,
    resales = excluded.resales, buyer_tokens = excluded.buyer_tokens,
    original_sellers = excluded.original_sellers, reentry_party = excluded.reentry_party,
    reentry_supplier = excluded.reentry_supplier, resale_parties = excluded.resale_parties,
    money_fen = excluded.money_fen, updated_at = excluded.updated_at
"""


def _joined(values: Iterable[str]) -> str | None:
    values = list(values)
    return "\x1f".join(values) if values else None


def _sale_json(s: ChainSale) -> dict[str, Any]:
    return {
        "event_id": s.event_id,
        "party_id": s.party_id,
        "occurred_at": s.occurred_at.isoformat(),
        "buyer_token": s.buyer_token,
        "fund_paid_fen": s.fund_paid_fen,
        "units": s.units,
    }


async def sync_flags(
    conn: asyncpg.Connection,
    existing: Sequence[ExistingFlag],
    findings: Sequence[Finding],
    chains: Sequence[ReturnChain],
    *,
    run_id: int,
    now: datetime,
    parties: Mapping[str, Party],
) -> tuple[int, int]:
    """Make the flags of a scope match its findings; return (new, resolved).

    New findings become OPEN flags; a finding seen again refreshes its evidence (and
    reopens it only if the reconciler had resolved it); a reviewed flag keeps its review.
    An OPEN flag no longer found is RESOLVED with the reason, never deleted.
    """
    desired = {flag_id(f.identity): f for f in findings}
    have = {r.flag_id: r for r in existing}
    new = [(fid, f) for fid, f in desired.items() if fid not in have]
    changed = [
        (fid, f)
        for fid, f in desired.items()
        if fid in have and (have[fid].content_hash != _content_hash(f) or have[fid].status == "RESOLVED")
    ]
    gone = [fid for fid, r in have.items() if fid not in desired and r.status != "RESOLVED"]

    def region(f: Finding) -> str:
        p = parties.get(f.subject_party)
        return p.region if p else ""

    if new:
        fs = [f for _, f in new]
        await conn.execute(
            _INSERT_FLAGS,
            [fid for fid, _ in new],
            [f.rule.value for f in fs],
            [f.kind for f in fs],
            [f.severity.value for f in fs],
            [f.code for f in fs],
            [f.decisive_event_id for f in fs],
            [f.decisive_at for f in fs],
            [f.subject_party for f in fs],
            [region(f) for f in fs],
            [_joined(f.related_parties) or "" for f in fs],
            [_joined(f.evidence) or "" for f in fs],
            [f.money_fen for f in fs],
            [f.detail for f in fs],
            [_content_hash(f) for f in fs],
            now,
            run_id,
        )
    if changed:
        fs = [f for _, f in changed]
        await conn.execute(
            _REFRESH_FLAGS,
            [fid for fid, _ in changed],
            [f.severity.value for f in fs],
            [f.subject_party for f in fs],
            [region(f) for f in fs],
            [_joined(f.related_parties) or "" for f in fs],
            [_joined(f.evidence) or "" for f in fs],
            [f.money_fen for f in fs],
            [f.detail for f in fs],
            [_content_hash(f) for f in fs],
            now,
            [f.decisive_at for f in fs],
        )
    resolved = 0
    if gone:
        successor = {(f.rule.value, f.decisive_event_id, f.code): f.kind for f in findings}
        reasons = []
        for fid in gone:
            r = have[fid]
            nxt = successor.get((r.rule, r.decisive_event_id, r.code))
            reasons.append(
                f"run {run_id}: later evidence changed the finding to {nxt}"
                if nxt
                else f"run {run_id}: the finding no longer holds on the events now known"
            )
        status = await conn.execute(_RESOLVE_FLAGS, gone, reasons, now)
        resolved = int(status.split()[-1])
        await conn.execute(
            "UPDATE return_chains SET active = false, updated_at = $2 WHERE flag_id = ANY($1)", gone, now
        )
    if chains:
        await _upsert_chains(conn, chains, now)
    return len(new), resolved


async def _upsert_chains(conn: asyncpg.Connection, chains: Sequence[ReturnChain], now: datetime) -> None:
    cols: list[list[Any]] = [[] for _ in range(12)]
    for c in chains:
        entry = c.reentry
        values = [
            flag_id(c.flag_identity),
            c.code,
            json.dumps([_sale_json(s) for s in c.originals]),
            json.dumps(
                {
                    "event_id": entry.event_id,
                    "kind": entry.kind.value,
                    "party_id": entry.party_id,
                    "supplier_id": entry.supplier_id,
                    "occurred_at": entry.occurred_at.isoformat(),
                }
            )
            if entry
            else None,
            json.dumps([_sale_json(s) for s in c.resales]),
            _joined(sorted({s.buyer_token for s in c.originals if s.buyer_token})) or "",
            _joined(sorted({s.party_id for s in c.originals})) or "",
            entry.party_id if entry else None,
            (entry.supplier_id or None) if entry else None,
            _joined(sorted({s.party_id for s in c.resales})) or "",
            sum(s.fund_paid_fen for s in c.originals),
            True,
        ]
        for col, v in zip(cols, values, strict=True):
            col.append(v)
    await conn.execute(_UPSERT_CHAINS, *cols, now)


class ExistingFlag(NamedTuple):
    """What sync_flags compares a scope's findings against."""

    flag_id: str
    status: str
    content_hash: bytes
    rule: str
    decisive_event_id: str
    code: str


_EXISTING = "SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags WHERE "


async def flags_of_codes(conn: asyncpg.Connection, codes: Sequence[str]) -> list[ExistingFlag]:
    """The per-code flags (D, L, R) of these codes (S and B flags carry an insurance code there)."""
    rows = await conn.fetch(_EXISTING + "code = ANY($1::text[]) AND rule NOT IN ('S', 'B')", list(codes))
    return [ExistingFlag(*r) for r in rows]


async def flags_of_sales(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[ExistingFlag]:
    """The S flags decided by these sale events."""
    rows = await conn.fetch(_EXISTING + "decisive_event_id = ANY($1::text[]) AND rule = 'S'", list(event_ids))
    return [ExistingFlag(*r) for r in rows]


# -- runs ---------------------------------------------------------------------------------------


class Mode(StrEnum):
    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"


class Status(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


class Engine(StrEnum):
    """Which engine runs the rules (DESIGN §6); both give identical flags."""

    IN_PROCESS = "IN_PROCESS"  # batches of codes in this process: incremental and regional runs
    SPARK = "SPARK"  # reconciler.spark: national full runs


class Phase(StrEnum):
    """A run's passes; each keeps its own cursor and counter on the run row."""

    CODES = "code"
    SALES = "sale"
    BUYERS = "buyer"


_DONE_COUNTER = {Phase.CODES: "codes_done", Phase.SALES: "sales_done", Phase.BUYERS: "buyers_done"}


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    mode: Mode
    status: Status
    window_from: datetime | None
    window_to: datetime | None
    codes_total: int
    codes_done: int
    sales_done: int
    flags_new: int
    flags_resolved: int
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime
    error: str | None
    # Where the run resumes, and (incremental) the transactions whose rows it re-evaluates.
    code_cursor: str = ""
    sale_cursor: int = 0
    xid_from: int | None = None
    buyers_done: int = 0  # buyer tokens evaluated by rule B
    buyer_cursor: str = ""
    # The rule parameters the run applies, recorded at its start (rule B's and the clock skew).
    rule_params: dict[str, Any] = field(default_factory=dict)
    engine: Engine = Engine.IN_PROCESS

    @property
    def buyer_params(self) -> BuyerParams | None:
        return BuyerParams.from_json(self.rule_params) if self.rule_params else None

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.heartbeat_at
        return (end - self.started_at).total_seconds()


_RUN_COLUMNS = (
    "run_id, mode, status, window_from, window_to, codes_total, codes_done, sales_done, flags_new, "
    "flags_resolved, started_at, finished_at, heartbeat_at, error, code_cursor, sale_cursor, xid_from, "
    "buyers_done, buyer_cursor, rule_params, engine"
)


def _run(r: asyncpg.Record | None) -> RunInfo:
    if r is None:  # the row a statement just wrote or named is gone: a run was deleted under us
        raise LookupError("reconcile run not found")
    return RunInfo(
        r["run_id"],
        Mode(r["mode"]),
        Status(r["status"]),
        r["window_from"],
        r["window_to"],
        r["codes_total"],
        r["codes_done"],
        r["sales_done"],
        r["flags_new"],
        r["flags_resolved"],
        r["started_at"],
        r["finished_at"],
        r["heartbeat_at"],
        r["error"],
        r["code_cursor"],
        r["sale_cursor"],
        r["xid_from"],
        r["buyers_done"],
        r["buyer_cursor"],
        _json(r["rule_params"]) or {},
        Engine(r["engine"]),
    )


async def create_run(
    conn: asyncpg.Connection,
    mode: Mode,
    window_from: datetime | None,
    window_to: datetime | None,
    *,
    rule_params: Mapping[str, Any],
    engine: Engine = Engine.IN_PROCESS,
) -> RunInfo:
    """Record a new run: its snapshot horizon, the rule parameters it applies, and for incremental
    runs where the last one ended."""
    xid_from = None
    if mode is Mode.INCREMENTAL:
        xid_from = await conn.fetchval("SELECT max(xid_to) FROM reconcile_runs WHERE status = 'DONE'")
        if xid_from is None:
            xid_from = 0  # no run yet: every row counts as touched
    row = await conn.fetchrow(
        f"""INSERT INTO reconcile_runs (mode, status, window_from, window_to, xid_from, xid_to, rule_params, engine)
            VALUES ($1, 'RUNNING', $2, $3, $4, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, $5::jsonb, $6)
            RETURNING {_RUN_COLUMNS}""",
        mode.value,
        window_from,
        window_to,
        xid_from,
        json.dumps(dict(rule_params)),
        engine.value,
    )
    return _run(row)


async def get_run(conn: asyncpg.Connection, run_id: int) -> RunInfo | None:
    row = await conn.fetchrow(f"SELECT {_RUN_COLUMNS} FROM reconcile_runs WHERE run_id = $1", run_id)
    return _run(row) if row is not None else None


async def list_runs(conn: asyncpg.Connection, limit: int, before_id: int | None = None) -> list[RunInfo]:
    rows = await conn.fetch(
        f"SELECT {_RUN_COLUMNS} FROM reconcile_runs WHERE run_id < $1 ORDER BY run_id DESC LIMIT $2",
        before_id or 2**62,
        limit,
    )
    return [_run(r) for r in rows]


async def mark_running(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute("UPDATE reconcile_runs SET status = 'RUNNING', error = NULL WHERE run_id = $1", run_id)


async def mark_failed(conn: asyncpg.Connection, run_id: int, reason: str) -> None:
    await conn.execute(
        "UPDATE reconcile_runs SET status = 'FAILED', error = $2 WHERE run_id = $1", run_id, reason[:2000]
    )


async def mark_done(conn: asyncpg.Connection, run_id: int) -> RunInfo:
    row = await conn.fetchrow(
        f"""UPDATE reconcile_runs SET status = 'DONE', finished_at = clock_timestamp(),
                   heartbeat_at = clock_timestamp() WHERE run_id = $1 RETURNING {_RUN_COLUMNS}""",
        run_id,
    )
    return _run(row)


async def advance(
    conn: asyncpg.Connection, run_id: int, phase: Phase, *, cursor: str | int, done: int, new: int, resolved: int
) -> RunInfo:
    """Record a committed batch on the run (in the batch's transaction): its cursor moves only with its flags."""
    counter = _DONE_COUNTER[phase]
    row = await conn.fetchrow(
        f"""UPDATE reconcile_runs SET {phase.value}_cursor = $2, {counter} = {counter} + $3,
               flags_new = flags_new + $4, flags_resolved = flags_resolved + $5, heartbeat_at = clock_timestamp()
           WHERE run_id = $1 RETURNING {_RUN_COLUMNS}""",
        run_id,
        cursor,
        done,
        new,
        resolved,
    )
    return _run(row)


async def tally(conn: asyncpg.Connection, run_id: int, *, new: int, resolved: int) -> None:
    """Count a batch's flag changes on the run in the transaction that made them (a worker process's
    batch: its coordinator moves the cursor once every worker of the range has committed)."""
    if new or resolved:
        await conn.execute(
            """UPDATE reconcile_runs SET flags_new = flags_new + $2, flags_resolved = flags_resolved + $3,
                   heartbeat_at = clock_timestamp() WHERE run_id = $1""",
            run_id,
            new,
            resolved,
        )


class Scope(NamedTuple):
    """SQL over event_codes (or events) naming what a run evaluates, with its $-parameters."""

    sql: str
    args: list[Any]


def scope_of(run: RunInfo) -> Scope:
    """The codes a run evaluates (each with all its events): touched since the last run, in a window, or all."""
    if run.mode is Mode.INCREMENTAL:
        # Also what a retraction stored since then names: its codes are evaluated again without it.
        return Scope(
            "(ingest_xid >= $1 OR event_seq IN (SELECT rx.event_seq FROM intake_evidence r JOIN events rx "
            "ON rx.event_id = r.target_event_id WHERE r.kind = 'RETRACTION' AND r.ingest_xid >= $1))",
            [run.xid_from],
        )
    if run.window_from is not None or run.window_to is not None:
        return Scope(
            "occurred_at >= coalesce($1, '-infinity'::timestamptz) "
            "AND occurred_at < coalesce($2, 'infinity'::timestamptz)",
            [run.window_from, run.window_to],
        )
    return Scope("true", [])


async def count_codes(conn: asyncpg.Connection, run_id: int, scope: Scope) -> int:
    """How many codes the run will evaluate; recorded on the run for its progress."""
    total = await conn.fetchval(
        f"SELECT count(DISTINCT code) FROM event_codes WHERE is_trace AND {scope.sql}", *scope.args
    )
    await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)
    return int(total)


async def next_codes(conn: asyncpg.Connection, scope: Scope, after: str, limit: int) -> list[str]:
    """The next batch of trace codes in scope, in code order after `after`."""
    n = len(scope.args)
    rows = await conn.fetch(
        f"""SELECT DISTINCT code FROM event_codes WHERE is_trace AND {scope.sql} AND code > ${n + 1}
            ORDER BY code LIMIT ${n + 2}""",
        *scope.args,
        after,
        limit,
    )
    return [r["code"] for r in rows]


# -- reading findings ---------------------------------------------------------------------------

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


async def review_flag(conn: asyncpg.Connection, flag_id: str, status: str, note: str, reviewer: str) -> FlagRow | None:
    """Record a reviewer's decision; None when the flag does not exist or was resolved by the reconciler."""
    row = await conn.fetchrow(
        f"""UPDATE flags SET status = $2, review_note = $3, reviewed_by = $4, reviewed_at = clock_timestamp(),
                  updated_at = clock_timestamp()
           WHERE flag_id = $1 AND status <> 'RESOLVED' RETURNING {FLAG_COLUMNS}""",
        flag_id,
        status,
        note,
        reviewer,
    )
    return flag_from_record(row) if row else None


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


@dataclass(frozen=True, slots=True)
class ChainRow:
    """A stored return-drug chain: original sale(s) → re-entry → resales."""

    flag_id: str
    code: str
    active: bool
    money_fen: int
    originals: tuple[ChainSale, ...]
    reentry: ChainEntry | None
    resales: tuple[ChainSale, ...]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _chain_sale(s: dict[str, Any]) -> ChainSale:
    return ChainSale(
        s["event_id"],
        s["party_id"],
        datetime.fromisoformat(s["occurred_at"]),
        s["buyer_token"],
        s["fund_paid_fen"],
        s["units"],
    )


def _chain(r: asyncpg.Record) -> ChainRow:
    entry = _json(r["reentry"]) if r["reentry"] is not None else None
    return ChainRow(
        flag_id=r["flag_id"],
        code=r["code"],
        active=r["active"],
        money_fen=r["money_fen"],
        originals=tuple(_chain_sale(s) for s in _json(r["originals"])),
        reentry=ChainEntry(
            entry["event_id"],
            EventKind(entry["kind"]),
            entry["party_id"],
            entry["supplier_id"],
            datetime.fromisoformat(entry["occurred_at"]),
        )
        if entry
        else None,
        resales=tuple(_chain_sale(s) for s in _json(r["resales"])),
    )


_CHAIN_COLUMNS = "flag_id, code, active, money_fen, originals, reentry, resales"


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
        f"SELECT {_CHAIN_COLUMNS} FROM return_chains WHERE {w.sql()} ORDER BY flag_id LIMIT {int(limit)}", *w.args
    )
    return [_chain(r) for r in rows]


async def chain_of_flag(conn: asyncpg.Connection, flag_id: str) -> ChainRow | None:
    row = await conn.fetchrow(f"SELECT {_CHAIN_COLUMNS} FROM return_chains WHERE flag_id = $1", flag_id)
    return _chain(row) if row else None


class SuspectRow(NamedTuple):
    """One suspect and why it ranks where it does: its return chains and, for a buyer, its standing rule B
    flags. `score` orders the ranking (see SCORE_WEIGHTS); `reason` says it in words."""

    id: str  # a buyer token or a party id
    chains: int
    codes: int
    money_fen: int  # fund paid on the original sales of those chains
    b_flags: Mapping[str, int] = {}  # standing (OPEN or CONFIRMED) rule B flags by kind: buyers only
    b_money_fen: int = 0  # fund paid at risk on those flags, each decisive sale counted once
    score: int = 0

    @property
    def reason(self) -> str:
        """E.g. "2 return chains (2 codes, ¥40.00) × 3 + B: 1 OVER_SUPPLY × 2, 2 MULTI_PHARMACY × 1 (¥12.60) = 10"."""
        plural = "s" if self.chains != 1 else ""
        chains = f"{self.chains} return chain{plural} ({self.codes} codes, ¥{self.money_fen / 100:.2f})"
        if not self.b_flags and self.score == self.chains:
            return chains
        parts = [f"{chains} × {SCORE_WEIGHTS['CHAIN']}"] if self.chains else []
        if self.b_flags:
            kinds = ", ".join(f"{n} {kind} × {_b_weight(kind)}" for kind, n in sorted(self.b_flags.items()))
            parts.append(f"B: {kinds} (¥{self.b_money_fen / 100:.2f})")
        return " + ".join(parts) + f" = {self.score}"


class SuspectRole(StrEnum):
    BUYER = "BUYER"  # buyers whose purchases come back (药农), and buyers with rule B findings
    SUPPLIER = "SUPPLIER"  # who feeds return drugs back in (dealers, 过票 wholesalers)
    PHARMACY = "PHARMACY"  # who resells them


# A buyer's score: a return chain (a box of theirs came back: proven re-entry) weighs most, then a HIGH
# rule B flag (OVER_SUPPLY, CARD_TRAVEL), then a MEDIUM one (MULTI_PHARMACY). Suppliers and pharmacies
# are ranked by their chains alone (score = chains).
SCORE_WEIGHTS = {"CHAIN": 3, "HIGH": 2, "MEDIUM": 1}
_B_SEVERITY = {"OVER_SUPPLY": "HIGH", "CARD_TRAVEL": "HIGH", "MULTI_PHARMACY": "MEDIUM"}


def _b_weight(kind: str) -> int:
    return SCORE_WEIGHTS.get(_B_SEVERITY.get(kind, "MEDIUM"), 1)


_SUSPECTS = {
    SuspectRole.BUYER: "unnest(buyer_tokens)",
    SuspectRole.SUPPLIER: "reentry_supplier",
    SuspectRole.PHARMACY: "unnest(resale_parties)",
}

_CHAIN_SUSPECTS = """
SELECT id, count(*) AS chains, count(DISTINCT code) AS codes, coalesce(sum(money_fen), 0)::bigint AS money_fen
FROM (SELECT {expr} AS id, code, money_fen FROM return_chains WHERE active) s
WHERE id IS NOT NULL AND id <> ''
GROUP BY id
"""
# Buyers: chains and standing B flags side by side. A decisive sale's money is counted once: the larger of
# its CARD_TRAVEL (all of the sale) and the sum over its drugs of the drug's largest flag.
_BUYER_SUSPECTS = f"""
WITH chains AS ({_CHAIN_SUSPECTS.format(expr="unnest(buyer_tokens)")}),
b AS (
    SELECT buyer_token AS id, kind, code, decisive_event_id, money_fen FROM flags
    WHERE rule = 'B' AND status IN ('OPEN', 'CONFIRMED') AND buyer_token IS NOT NULL AND buyer_token <> ''
),
kinds AS (
    SELECT id, jsonb_object_agg(kind, n)::text AS kinds, sum(n * w)::bigint AS points
    FROM (SELECT b.id, b.kind, count(*) AS n, max(w.weight) AS w
          FROM b JOIN unnest($2::text[], $3::int[]) AS w(kind, weight) ON w.kind = b.kind
          GROUP BY b.id, b.kind) k
    GROUP BY id
),
per_drug AS (SELECT id, decisive_event_id, code, max(money_fen) AS m FROM b GROUP BY 1, 2, 3),
money AS (
    SELECT id, sum(m)::bigint AS b_money_fen FROM (
        SELECT id, decisive_event_id,
               greatest(coalesce(max(m) FILTER (WHERE code = ''), 0),
                        coalesce(sum(m) FILTER (WHERE code <> ''), 0)) AS m
        FROM per_drug GROUP BY 1, 2) s
    GROUP BY id
)
SELECT coalesce(c.id, k.id) AS id, coalesce(c.chains, 0) AS chains, coalesce(c.codes, 0) AS codes,
       coalesce(c.money_fen, 0) AS money_fen, coalesce(k.kinds, '{{}}') AS kinds,
       coalesce(m.b_money_fen, 0) AS b_money_fen,
       coalesce(c.chains, 0) * $4 + coalesce(k.points, 0) AS score
FROM chains c FULL JOIN kinds k ON k.id = c.id LEFT JOIN money m ON m.id = coalesce(c.id, k.id)
ORDER BY score DESC, coalesce(c.money_fen, 0) + coalesce(m.b_money_fen, 0) DESC, id
LIMIT $1
"""


async def rank_suspects(conn: asyncpg.Connection, role: SuspectRole, limit: int) -> list[SuspectRow]:
    """Who recurs across active chains in one role, highest score first (then most money, then id).
    Buyers: return chains and standing rule B flags (SCORE_WEIGHTS); suppliers and pharmacies: chains."""
    if role is SuspectRole.BUYER:
        weights = {kind: _b_weight(kind) for kind in _B_SEVERITY}
        rows = await conn.fetch(_BUYER_SUSPECTS, limit, list(weights), list(weights.values()), SCORE_WEIGHTS["CHAIN"])
        return [
            SuspectRow(
                r["id"], r["chains"], r["codes"], r["money_fen"], json.loads(r["kinds"]), r["b_money_fen"], r["score"]
            )
            for r in rows
        ]
    rows = await conn.fetch(
        f"""SELECT * FROM ({_CHAIN_SUSPECTS.format(expr=_SUSPECTS[role])}) s
            ORDER BY chains DESC, money_fen DESC, id LIMIT $1""",
        limit,
    )
    return [SuspectRow(r["id"], r["chains"], r["codes"], r["money_fen"], score=r["chains"]) for r in rows]


# -- rule B: per buyer token --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuyerEvents:
    """One token's SALE events and the SALE_RETURN events that name them."""

    sales: list[Event] = field(default_factory=list)
    refunds: list[Event] = field(default_factory=list)


async def lock_buyer_shards(conn: asyncpg.Connection, tokens: Sequence[str]) -> None:
    """Transaction-scoped locks on the shards of `tokens`, taken in one order so runs cannot deadlock
    (and custom plans for the batch's statements, as in lock_shards)."""
    await conn.execute(_CUSTOM_PLANS)
    shards = sorted({shard_of(t) for t in tokens})
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
    rows = await conn.fetch(_EXISTING + "rule = 'B' AND buyer_token = ANY($1::text[])", list(tokens))
    existing = [ExistingFlag(*r) for r in rows]
    new, resolved = await sync_flags(
        conn, existing, [b.finding for b in found], [], run_id=run_id, now=now, parties=parties
    )
    if found:
        await conn.execute(_TAG_BUYERS, [flag_id(b.finding.identity) for b in found], [b.token for b in found])
    return new, resolved
