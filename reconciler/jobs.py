"""Reconciliation runs (DESIGN.md §6): full or incremental, resumable, recorded.

A run walks its codes in code order, in batches; each batch is one transaction that
locks the shards of its codes, loads their events with one query, applies the rules
and makes the flags match. The run row keeps a cursor (last code, last sale) so a
crashed run resumes where it stopped, and its counts and timings.

Incremental runs use transaction ids: every event row records the id of the
transaction that stored it, and each run records the snapshot horizon at its start
(every transaction below it had ended). The next incremental run re-evaluates the codes
of rows stored from that horizon on: nothing committed late is missed, whatever the
order of commits, and the cost follows the touched codes, not the history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler import persist
from reconciler.rules import Reference, evaluate_code, evaluate_sale
from reconciler.rules.model import Finding, ReturnChain
from tracesvc.store.db import pg

log = structlog.get_logger(__name__)


class Mode(StrEnum):
    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"


class Engine(StrEnum):
    IN_PROCESS = "IN_PROCESS"  # batches of codes in this process (DESIGN §6): incremental and regional runs
    SPARK = "SPARK"  # reconciler.spark: national full runs


class Status(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass
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
    engine: Engine = Engine.IN_PROCESS

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.heartbeat_at
        return (end - self.started_at).total_seconds()


_RUN_COLUMNS = ("run_id, mode, status, window_from, window_to, codes_total, codes_done, sales_done, flags_new, "
                "flags_resolved, started_at, finished_at, heartbeat_at, error, engine")


def _info(r) -> RunInfo:
    return RunInfo(r["run_id"], Mode(r["mode"]), Status(r["status"]), r["window_from"], r["window_to"],
                   r["codes_total"], r["codes_done"], r["sales_done"], r["flags_new"], r["flags_resolved"],
                   r["started_at"], r["finished_at"], r["heartbeat_at"], r["error"], Engine(r["engine"]))


Progress = Callable[[RunInfo], None]


@dataclass
class Reconciler:
    engine: AsyncEngine
    skew: timedelta = timedelta(minutes=10)
    code_batch: int = 2000
    sale_batch: int = 2000
    _tasks: dict[int, asyncio.Task] = field(default_factory=dict)

    # -- run records ---------------------------------------------------------------------------
    async def start(self, mode: Mode, window_from: datetime | None = None,
                    window_to: datetime | None = None, engine: Engine = Engine.IN_PROCESS) -> RunInfo:
        """Record a new run: its snapshot horizon, and for incremental runs where the last one ended."""
        async with pg(self.engine) as conn:
            xid_from = None
            if mode is Mode.INCREMENTAL:
                xid_from = await conn.fetchval("SELECT max(xid_to) FROM reconcile_runs WHERE status = 'DONE'")
                if xid_from is None:
                    xid_from = 0  # no run yet: every row counts as touched
            row = await conn.fetchrow(
                f"""INSERT INTO reconcile_runs (mode, status, window_from, window_to, xid_from, xid_to, engine)
                    VALUES ($1, 'RUNNING', $2, $3, $4, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, $5)
                    RETURNING {_RUN_COLUMNS}""",
                mode.value, window_from, window_to, xid_from, engine.value)
        return _info(row)

    async def get(self, run_id: int) -> RunInfo | None:
        async with pg(self.engine) as conn:
            row = await conn.fetchrow(f"SELECT {_RUN_COLUMNS} FROM reconcile_runs WHERE run_id = $1", run_id)
        return _info(row) if row else None

    async def list(self, limit: int = 50, before_id: int | None = None) -> list[RunInfo]:
        async with pg(self.engine) as conn:
            rows = await conn.fetch(
                f"SELECT {_RUN_COLUMNS} FROM reconcile_runs WHERE run_id < $1 ORDER BY run_id DESC LIMIT $2",
                before_id or 2**62, limit)
        return [_info(r) for r in rows]

    # -- execution -----------------------------------------------------------------------------
    async def run(self, mode: Mode, window_from: datetime | None = None, window_to: datetime | None = None,
                  progress: Progress | None = None) -> RunInfo:
        info = await self.start(mode, window_from, window_to)
        return await self.execute(info.run_id, progress)

    def launch(self, run_id: int, work: Coroutine[Any, Any, RunInfo] | None = None) -> asyncio.Task:
        """Execute a run in the background (the server's RunReconciliation); `work` runs it another way."""
        task = asyncio.create_task(work or self.execute(run_id), name=f"reconcile-run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda t: self._forget(run_id, t))
        return task

    def _forget(self, run_id: int, task: asyncio.Task) -> None:
        self._tasks.pop(run_id, None)
        if not task.cancelled():
            task.exception()  # already logged and recorded on the run; marks it retrieved

    def is_active(self, run_id: int) -> bool:
        return run_id in self._tasks

    async def shutdown(self) -> None:
        """Interrupt background runs (they are left FAILED/"interrupted", to be resumed)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def execute(self, run_id: int, progress: Progress | None = None) -> RunInfo:
        """Do (or resume) a recorded run to its end."""
        async with pg(self.engine) as conn:
            run = await conn.fetchrow("SELECT * FROM reconcile_runs WHERE run_id = $1", run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            if run["status"] == Status.DONE:
                return _info(run)
            await conn.execute("UPDATE reconcile_runs SET status = 'RUNNING', error = NULL WHERE run_id = $1", run_id)
        started = time.perf_counter()
        try:
            ref = await persist.load_reference(self.engine)
            await self._codes(run, ref, progress)
            await self._sales(run, ref, progress)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, asyncio.CancelledError) else f"{type(exc).__name__}: {exc}"
            async with pg(self.engine) as conn:
                await conn.execute("UPDATE reconcile_runs SET status = 'FAILED', error = $2 WHERE run_id = $1",
                                   run_id, reason[:2000])
            log.warning("run_failed", run_id=run_id, error=reason)
            raise
        async with pg(self.engine) as conn:
            row = await conn.fetchrow(
                f"""UPDATE reconcile_runs SET status = 'DONE', finished_at = clock_timestamp(),
                           heartbeat_at = clock_timestamp() WHERE run_id = $1 RETURNING {_RUN_COLUMNS}""", run_id)
        info = _info(row)
        log.info("run_done", run_id=run_id, mode=info.mode.value, codes=info.codes_done, sales=info.sales_done,
                 flags_new=info.flags_new, flags_resolved=info.flags_resolved,
                 seconds=round(time.perf_counter() - started, 3))
        if progress:
            progress(info)
        return info

    async def _codes(self, run, ref: Reference, progress: Progress | None) -> None:
        run_id, cursor = run["run_id"], run["code_cursor"]
        scope, args = _code_scope(run)
        async with pg(self.engine) as conn:
            total = await conn.fetchval(f"SELECT count(DISTINCT code) FROM event_codes WHERE is_trace AND {scope}",
                                        *args)
            await conn.execute("UPDATE reconcile_runs SET codes_total = $2 WHERE run_id = $1", run_id, total)
        while True:
            async with pg(self.engine) as conn:
                codes = [r["code"] for r in await conn.fetch(
                    f"""SELECT DISTINCT code FROM event_codes WHERE is_trace AND {scope} AND code > ${len(args) + 1}
                        ORDER BY code LIMIT ${len(args) + 2}""", *args, cursor, self.code_batch)]
                if not codes:
                    return
                async with conn.transaction():
                    await persist.lock_shards(conn, codes)
                    events = await persist.load_code_events(conn, codes)
                    findings: list[Finding] = []
                    chains: list[ReturnChain] = []
                    for code in codes:
                        result = evaluate_code(code, events.get(code, ()), ref, self.skew)
                        findings += result.findings
                        chains += result.chains
                    existing = await conn.fetch(
                        "SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags "
                        "WHERE code = ANY($1::text[]) AND rule <> 'S'", codes)
                    new, resolved = await persist.sync_flags(
                        conn, existing, findings, chains, run_id=run_id, now=datetime.now(UTC), parties=ref.parties)
                    cursor = codes[-1]
                    row = await _advance(conn, run_id, "code", cursor, len(codes), new, resolved)
            if progress:
                progress(_info(row))
            await asyncio.sleep(0)  # let the server breathe between batches

    async def _sales(self, run, ref: Reference, progress: Progress | None) -> None:
        run_id, cursor = run["run_id"], run["sale_cursor"]
        scope, args = _sale_scope(run)
        while True:
            async with pg(self.engine) as conn:
                sales = await persist.load_sales(conn, scope, args, cursor, self.sale_batch)
                if not sales:
                    return
                ids = [ev.event_id for _, ev in sales]
                async with conn.transaction():
                    await persist.lock_shards(conn, ids, sales=True)
                    scanned = [s.code for _, ev in sales for ln in ev.lines for s in ln.scans if s.is_trace]
                    listed = await persist.commissioned_among(conn, scanned) if ref.listed_products else frozenset()
                    batch_ref = Reference(ref.parties, ref.products, ref.listed_products, listed)
                    findings = [f for _, ev in sales for f in evaluate_sale(ev, batch_ref)]
                    existing = await conn.fetch(
                        "SELECT flag_id, status, content_hash, rule, decisive_event_id, code FROM flags "
                        "WHERE decisive_event_id = ANY($1::text[]) AND rule = 'S'", ids)
                    new, resolved = await persist.sync_flags(
                        conn, existing, findings, [], run_id=run_id, now=datetime.now(UTC), parties=ref.parties)
                    cursor = sales[-1][0]
                    row = await _advance(conn, run_id, "sale", cursor, len(sales), new, resolved)
            if progress:
                progress(_info(row))
            await asyncio.sleep(0)


async def _advance(conn, run_id: int, phase: str, cursor, done: int, new: int, resolved: int):
    """Record a committed batch on the run (in the batch's transaction): its cursor moves only with its flags."""
    counter = "codes_done" if phase == "code" else "sales_done"
    return await conn.fetchrow(
        f"""UPDATE reconcile_runs SET {phase}_cursor = $2, {counter} = {counter} + $3,
               flags_new = flags_new + $4, flags_resolved = flags_resolved + $5, heartbeat_at = clock_timestamp()
           WHERE run_id = $1 RETURNING {_RUN_COLUMNS}""",
        run_id, cursor, done, new, resolved)


def _code_scope(run) -> tuple[str, list]:
    """SQL over event_codes naming the codes a run evaluates (each with all its events)."""
    if run["mode"] == Mode.INCREMENTAL:
        return "ingest_xid >= $1", [run["xid_from"]]
    if run["window_from"] is not None or run["window_to"] is not None:
        return ("occurred_at >= coalesce($1, '-infinity'::timestamptz) "
                "AND occurred_at < coalesce($2, 'infinity'::timestamptz)"), [run["window_from"], run["window_to"]]
    return "true", []


def _sale_scope(run) -> tuple[str, list]:
    """The same over SALE events, for rule S."""
    return _code_scope(run)
