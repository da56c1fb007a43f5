"""Run records: a run's mode, scope, cursors, counts and status (reconcile_runs)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import asyncpg

from reconciler.rules.buyer import BuyerParams


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


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
    day: date | None = None,
    lake: str | None = None,
) -> RunInfo:
    """Record a new run: its snapshot horizon, the rule parameters it applies, and for incremental
    runs where the last one ended. A Spark daily run (`day`: the lake day it judges, kept in its
    rule_params) records horizon 0: it judged a day of the lake, not every row stored below a horizon,
    so an in-process incremental run must not start from it. A Spark run over a lake records the lake,
    so that resuming it (or the service's child process) reads the same one."""
    if day is not None:
        rule_params = {**rule_params, "day": day.isoformat()}
    if lake is not None:
        rule_params = {**rule_params, "lake": lake}
    horizon = "0" if day is not None else "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    xid_from = None
    if mode is Mode.INCREMENTAL:
        xid_from = await conn.fetchval("SELECT max(xid_to) FROM reconcile_runs WHERE status = 'DONE'")
        if xid_from is None:
            xid_from = 0  # no run yet: every row counts as touched
    row = await conn.fetchrow(
        f"""INSERT INTO reconcile_runs (mode, status, window_from, window_to, xid_from, xid_to, rule_params, engine)
            VALUES ($1, 'RUNNING', $2, $3, $4, {horizon}, $5::jsonb, $6)
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
    """RUNNING again, its counts and cursors kept (the in-process engine resumes where it stopped)."""
    await conn.execute(
        "UPDATE reconcile_runs SET status = 'RUNNING', error = NULL WHERE run_id = $1 AND status <> 'DONE'", run_id
    )


async def restart_run(conn: asyncpg.Connection, run_id: int) -> None:
    """RUNNING from scratch, its counts zeroed (a Spark run redoes every bucket; syncing is idempotent)."""
    await conn.execute(
        """UPDATE reconcile_runs SET status = 'RUNNING', error = NULL, codes_done = 0, sales_done = 0,
                  buyers_done = 0, flags_new = 0, flags_resolved = 0, heartbeat_at = clock_timestamp()
           WHERE run_id = $1 AND status <> 'DONE'""",
        run_id,
    )


async def mark_failed(conn: asyncpg.Connection, run_id: int, reason: str) -> None:
    """FAILED with the reason, unless the run is DONE: a late failure report never undoes a finished run."""
    await conn.execute(
        "UPDATE reconcile_runs SET status = 'FAILED', error = $2 WHERE run_id = $1 AND status <> 'DONE'",
        run_id,
        reason[:2000],
    )


async def set_codes_total(conn: asyncpg.Connection, run_id: int, total: int) -> None:
    await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)


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


async def count_done(
    conn: asyncpg.Connection, run_id: int, phase: Phase, *, done: int, new: int, resolved: int
) -> None:
    """Count a committed chunk on the run without moving a cursor (the Spark engine's buckets have none)."""
    counter = _DONE_COUNTER[phase]
    await conn.execute(
        f"""UPDATE reconcile_runs SET {counter} = {counter} + $2, flags_new = flags_new + $3,
               flags_resolved = flags_resolved + $4, heartbeat_at = clock_timestamp() WHERE run_id = $1""",
        run_id,
        done,
        new,
        resolved,
    )


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
