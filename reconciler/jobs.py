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
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.judging import judge_buyers, judge_codes, judge_sales
from reconciler.lifecycle import RunLifecycle
from reconciler.rules import BuyerParams, Reference
from reconciler.rules.model import BuyerFinding, Judged
from reconciler.store.buyers import load_buyer_events, next_buyer_tokens
from reconciler.store.loads import (
    commissioned_among,
    count_codes,
    load_code_events,
    load_reference,
    load_sales,
    next_codes,
    next_sales,
)
from reconciler.store.runs import (
    Engine,
    Mode,
    Phase,
    RunInfo,
    Scope,
    Status,
    advance,
    create_run,
    get_run,
    list_runs,
    scope_of,
)
from reconciler.store.sync import sync_batch
from reconciler.workers import Batch, Workers
from tracesvc.store.db import pg

__all__ = ["Engine", "Mode", "Progress", "Reconciler", "RunInfo", "Status"]

log = structlog.get_logger(__name__)

Progress = Callable[[RunInfo], None]


@dataclass(frozen=True)
class Judge:
    """How one run judges a batch of keys of each phase, in two steps: `load` reads what the rules need
    (events are append-only and the run promises only what was stored below its horizon, so this may
    run before the batch's locks, e.g. while the previous batch is judged), and `judge`, inside the
    batch's transaction, evaluates, locks the keys' shards, compares with their flags and syncs them.
    The same object judges in a worker process (`reconciler.workers`)."""

    run_id: int
    ref: Reference
    skew: timedelta
    buyer_params: BuyerParams

    async def load(self, conn: asyncpg.Connection, phase: Phase, keys: Sequence[str]) -> Any:
        if phase is Phase.CODES:
            return await load_code_events(conn, keys)
        if phase is Phase.SALES:
            sales = await load_sales(conn, keys)
            if not self.ref.listed_products:
                return sales, frozenset()
            scanned = [sc.code for s in sales for ln in s.lines for sc in ln.scans if sc.is_trace]
            return sales, await commissioned_among(conn, scanned)
        return await load_buyer_events(conn, keys)

    async def judge(self, conn: asyncpg.Connection, phase: Phase, keys: Sequence[str], loaded: Any) -> tuple[int, int]:
        """Evaluate the loaded batch, then (in the caller's transaction) lock, compare and sync; (new, resolved)."""
        judged: Judged | list[BuyerFinding]
        if phase is Phase.CODES:
            judged = judge_codes(keys, loaded, self.ref, self.skew)
        elif phase is Phase.SALES:
            sales, commissioned = loaded
            judged = judge_sales(sales, self.ref, commissioned)
        else:
            judged = judge_buyers(keys, loaded, self.ref, self.buyer_params, self.skew)
        return await sync_batch(
            conn, phase, keys, judged, run_id=self.run_id, now=datetime.now(UTC), parties=self.ref.parties
        )


@dataclass
class Reconciler:
    engine: AsyncEngine
    skew: timedelta = timedelta(minutes=10)
    code_batch: int = 2000
    sale_batch: int = 2000
    buyer_batch: int = 2000
    buyer_params: BuyerParams = field(default_factory=BuyerParams)  # rule B; a run may override them
    # Worker processes of a run, each judging the keys of its own lock shards (1: judged in this process).
    processes: int = field(default_factory=lambda: int(os.environ.get("TRACESVC_RECONCILE_PROCESSES", "1")))
    _tasks: dict[int, asyncio.Task[RunInfo]] = field(default_factory=dict)

    # -- run records ---------------------------------------------------------------------------
    async def start(
        self,
        mode: Mode,
        window_from: datetime | None = None,
        window_to: datetime | None = None,
        buyer_params: BuyerParams | None = None,
        *,
        engine: Engine = Engine.IN_PROCESS,
        day: date | None = None,
        lake: str | None = None,
    ) -> RunInfo:
        """Record a new run: its snapshot horizon, the rule parameters it applies (a resumed run reads
        them back), and for incremental runs where the last one ended; `day`: a Spark daily run's lake
        day; `lake`: the lake a Spark run reads (None: the database)."""
        params = {**(buyer_params or self.buyer_params).to_json(), "clock_skew_seconds": self.skew.total_seconds()}
        async with pg(self.engine) as conn:
            return await create_run(
                conn, mode, window_from, window_to, rule_params=params, engine=engine, day=day, lake=lake
            )

    async def get(self, run_id: int) -> RunInfo | None:
        async with pg(self.engine) as conn:
            return await get_run(conn, run_id)

    async def list(self, limit: int = 50, before_id: int | None = None) -> list[RunInfo]:
        async with pg(self.engine) as conn:
            return await list_runs(conn, limit, before_id)

    # -- execution -----------------------------------------------------------------------------
    async def run(
        self,
        mode: Mode,
        window_from: datetime | None = None,
        window_to: datetime | None = None,
        progress: Progress | None = None,
        buyer_params: BuyerParams | None = None,
    ) -> RunInfo:
        info = await self.start(mode, window_from, window_to, buyer_params)
        return await self.execute(info.run_id, progress)

    def launch(self, run_id: int, work: Coroutine[Any, Any, RunInfo] | None = None) -> asyncio.Task[RunInfo]:
        """Execute a run in the background (the server's RunReconciliation); `work` runs it another way
        (the Spark engine in a child process)."""
        task = asyncio.create_task(work or self.execute(run_id), name=f"reconcile-run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda t: self._forget(run_id, t))
        return task

    def _forget(self, run_id: int, task: asyncio.Task[RunInfo]) -> None:
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
        life = RunLifecycle(self.engine, run_id)
        run = await life.begin()
        if run.status is Status.DONE:
            return run
        try:
            ref = await load_reference(self.engine)
            judge = Judge(run_id, ref, self.skew, BuyerParams.from_json(run.rule_params, base=self.buyer_params))
            async with self._workers(run, judge) as workers:
                for phase in (Phase.CODES, Phase.SALES, Phase.BUYERS):
                    await self._phase(run, phase, judge, workers, progress)
        except BaseException as exc:
            await life.fail(exc)
            raise
        info = await life.done()
        if progress:
            progress(info)
        return info

    @contextlib.asynccontextmanager
    async def _workers(self, run: RunInfo, judge: Judge) -> AsyncIterator[Workers | None]:
        """The run's worker processes, started once for the whole run (none when processes is 1)."""
        if self.processes <= 1:
            yield None
            return
        url = self.engine.url.render_as_string(hide_password=False)
        with Workers(self.processes, url, judge) as workers:
            yield workers

    async def _phase(
        self, run: RunInfo, phase: Phase, judge: Judge, workers: Workers | None, progress: Progress | None
    ) -> None:
        """One phase of a run, in batches of keys in key order. Alone, each batch is one transaction that
        also moves the run's cursor, while the next batch is read on a second connection. With worker
        processes, see `Workers.run`: ranges of K batches split by lock shard, the cursor moved past a
        range once all its parts have committed."""
        scope = scope_of(run)
        size = {Phase.CODES: self.code_batch, Phase.SALES: self.sale_batch, Phase.BUYERS: self.buyer_batch}[phase]
        cursor = {Phase.CODES: run.code_cursor, Phase.SALES: run.sale_cursor, Phase.BUYERS: run.buyer_cursor}[phase]
        if phase is Phase.CODES:
            async with pg(self.engine) as conn:
                await count_codes(conn, run.run_id, scope)
        async with pg(self.engine) as reader:
            if workers:

                async def next_range(after: Any) -> Batch | None:
                    return await _next_batch(reader, run, phase, scope, after=after, limit=size * workers.count)

                async def committed(batch: Batch) -> None:
                    # Each part counted its flags in its own transaction; this moves the cursor past the range.
                    async with pg(self.engine) as conn:
                        info = await advance(
                            conn, run.run_id, phase, cursor=batch.cursor, done=len(batch.keys), new=0, resolved=0
                        )
                    if progress:
                        progress(info)

                await workers.run(phase, cursor, next_range=next_range, committed=committed)
                return

            async def fetch(after: Any) -> tuple[Batch, Any] | None:
                """The next batch and what judging it needs (read while the previous one is judged)."""
                batch = await _next_batch(reader, run, phase, scope, after=after, limit=size)
                return None if batch is None else (batch, await judge.load(reader, phase, batch.keys))

            pending = asyncio.ensure_future(fetch(cursor))
            try:
                while (got := await pending) is not None:
                    batch, loaded = got
                    pending = asyncio.ensure_future(fetch(batch.cursor))
                    # The cursor moves only in the transaction that synced the batch's flags.
                    async with pg(self.engine) as conn, conn.transaction():
                        new, resolved = await judge.judge(conn, phase, batch.keys, loaded)
                        info = await advance(
                            conn,
                            run.run_id,
                            phase,
                            cursor=batch.cursor,
                            done=len(batch.keys),
                            new=new,
                            resolved=resolved,
                        )
                    if progress:
                        progress(info)
                    await asyncio.sleep(0)  # let the server breathe between batches
            finally:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)


async def _next_batch(
    conn: asyncpg.Connection, run: RunInfo, phase: Phase, scope: Scope, *, after: Any, limit: int
) -> Batch | None:
    """The next `limit` keys of a phase after its cursor, in key order, and the cursor after them."""
    if phase is Phase.CODES:
        codes = await next_codes(conn, scope, after, limit)
        return Batch(codes, codes[-1]) if codes else None
    if phase is Phase.SALES:
        sales = await next_sales(conn, scope, after, limit)
        return Batch(sales.event_ids, sales.last_seq) if sales else None
    tokens = await next_buyer_tokens(conn, run, after, limit)
    return Batch(tokens, tokens[-1]) if tokens else None
