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
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler import store
from reconciler.rules import BuyerParams, Reference, evaluate_buyer, evaluate_code, evaluate_sale
from reconciler.rules.model import CodeEvent, Finding, ReturnChain
from reconciler.store import BuyerFinding, Engine, Mode, Phase, RunInfo, Status
from tracesvc import metrics
from tracesvc.domain.events import EventKind
from tracesvc.store.db import pg

__all__ = ["Engine", "Mode", "Progress", "Reconciler", "RunInfo", "Status"]

log = structlog.get_logger(__name__)

Progress = Callable[[RunInfo], None]


class Batch(NamedTuple):
    """The keys (codes, sale event ids or buyer tokens) one transaction judges, and where the run's
    cursor stands once it has committed."""

    keys: Sequence[str]
    cursor: Any
    loaded: Sequence[Any] = ()  # what finding the batch already read (rule S: its sales)


_SALE = EventKind.SALE


def _may_find(history: list[CodeEvent]) -> bool:
    """Whether rules D, L and R can find anything in a code's history: each is decided by a SALE of the
    code (D and L by the sale itself; R needs units sold before the custody-in and returns at once
    without a sale), so a code never sold has no finding and its evaluation can be skipped. Its old
    flags, if any, are still resolved: the batch's flags are synced against all its findings."""
    return any(e.kind is _SALE for e in history)


@dataclass
class Reconciler:
    engine: AsyncEngine
    skew: timedelta = timedelta(minutes=10)
    code_batch: int = 2000
    sale_batch: int = 2000
    buyer_batch: int = 2000
    buyer_params: BuyerParams = field(default_factory=BuyerParams)  # rule B; a run may override them
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
    ) -> RunInfo:
        """Record a new run: its snapshot horizon, the rule parameters it applies (a resumed run reads
        them back), and for incremental runs where the last one ended."""
        params = {**(buyer_params or self.buyer_params).to_json(), "clock_skew_seconds": self.skew.total_seconds()}
        async with pg(self.engine) as conn:
            return await store.create_run(conn, mode, window_from, window_to, rule_params=params, engine=engine)

    async def get(self, run_id: int) -> RunInfo | None:
        async with pg(self.engine) as conn:
            return await store.get_run(conn, run_id)

    async def list(self, limit: int = 50, before_id: int | None = None) -> list[RunInfo]:
        async with pg(self.engine) as conn:
            return await store.list_runs(conn, limit, before_id)

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
        async with pg(self.engine) as conn:
            run = await store.get_run(conn, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            if run.status is Status.DONE:
                return run
            await store.mark_running(conn, run_id)
        started = time.perf_counter()
        try:
            ref = await store.load_reference(self.engine)
            await self._codes(run, ref, progress)
            await self._sales(run, ref, progress)
            await self._buyers(run, ref, progress)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, asyncio.CancelledError) else f"{type(exc).__name__}: {exc}"
            async with pg(self.engine) as conn:
                await store.mark_failed(conn, run_id, reason)
            log.warning("run_failed", run_id=run_id, error=reason)
            metrics.run_finished(run.mode, Status.FAILED, time.perf_counter() - started)
            raise
        async with pg(self.engine) as conn:
            info = await store.mark_done(conn, run_id)
        metrics.run_finished(info.mode, info.status, time.perf_counter() - started, info)
        log.info(
            "run_done",
            run_id=run_id,
            mode=info.mode.value,
            codes=info.codes_done,
            sales=info.sales_done,
            flags_new=info.flags_new,
            flags_resolved=info.flags_resolved,
            seconds=round(time.perf_counter() - started, 3),
        )
        if progress:
            progress(info)
        return info

    async def _batches(
        self,
        run: RunInfo,
        phase: Phase,
        *,
        next_batch: Callable[[asyncpg.Connection, Any], Awaitable[Batch | None]],
        judge: Callable[[asyncpg.Connection, Batch], Awaitable[tuple[int, int]]],
        cursor: Any,
        progress: Progress | None,
    ) -> None:
        """One phase of a run: each batch in its own transaction, which also moves the run's cursor,
        so a crashed run resumes after its last committed batch and never counts one twice."""
        while True:
            async with pg(self.engine) as conn:
                batch = await next_batch(conn, cursor)
                if batch is None:
                    return
                async with conn.transaction():
                    new, resolved = await judge(conn, batch)
                    cursor = batch.cursor
                    info = await store.advance(
                        conn, run.run_id, phase, cursor=cursor, done=len(batch.keys), new=new, resolved=resolved
                    )
            if progress:
                progress(info)
            await asyncio.sleep(0)  # let the server breathe between batches

    async def _codes(self, run: RunInfo, ref: Reference, progress: Progress | None) -> None:
        """Rules D, L and R, a batch of codes per transaction, each batch locking its codes' shards."""
        scope = store.scope_of(run)
        async with pg(self.engine) as conn:
            await store.count_codes(conn, run.run_id, scope)

        async def next_batch(conn: asyncpg.Connection, cursor: str) -> Batch | None:
            codes = await store.next_codes(conn, scope, cursor, self.code_batch)
            return Batch(codes, codes[-1]) if codes else None

        async def judge(conn: asyncpg.Connection, batch: Batch) -> tuple[int, int]:
            codes = batch.keys
            await store.lock_shards(conn, codes)
            events = await store.load_code_events(conn, codes)
            # Parsed codes are remembered per batch only: each code is in one batch of a run.
            batch_ref = Reference(ref.parties, ref.products, ref.listed_products)
            findings: list[Finding] = []
            chains: list[ReturnChain] = []
            for code in codes:
                history = events.get(code)
                if not history or not _may_find(history):
                    continue
                result = evaluate_code(code, history, batch_ref, self.skew)
                findings += result.findings
                chains += result.chains
            existing = await store.flags_of_codes(conn, codes)
            return await store.sync_flags(
                conn, existing, findings, chains, run_id=run.run_id, now=datetime.now(UTC), parties=ref.parties
            )

        await self._batches(
            run, Phase.CODES, next_batch=next_batch, judge=judge, cursor=run.code_cursor, progress=progress
        )

    async def _sales(self, run: RunInfo, ref: Reference, progress: Progress | None) -> None:
        """Rule S, a batch of sales per transaction, each batch locking its sales' shards."""
        scope = store.scope_of(run)

        async def next_batch(conn: asyncpg.Connection, cursor: int) -> Batch | None:
            sales = await store.load_sales(conn, scope, cursor, self.sale_batch)
            return Batch([s.event.event_id for s in sales], sales[-1].event_seq, sales) if sales else None

        async def judge(conn: asyncpg.Connection, batch: Batch) -> tuple[int, int]:
            sales: Sequence[store.StoredSale] = batch.loaded
            await store.lock_shards(conn, batch.keys, sales=True)
            scanned = [sc.code for s in sales for ln in s.event.lines for sc in ln.scans if sc.is_trace]
            listed = await store.commissioned_among(conn, scanned) if ref.listed_products else frozenset()
            batch_ref = Reference(ref.parties, ref.products, ref.listed_products, listed)
            findings = [f for s in sales for f in evaluate_sale(s.event, batch_ref)]
            existing = await store.flags_of_sales(conn, batch.keys)
            return await store.sync_flags(
                conn, existing, findings, [], run_id=run.run_id, now=datetime.now(UTC), parties=ref.parties
            )

        await self._batches(
            run, Phase.SALES, next_batch=next_batch, judge=judge, cursor=run.sale_cursor, progress=progress
        )

    async def _buyers(self, run: RunInfo, ref: Reference, progress: Progress | None) -> None:
        """Rule B, a batch of buyer tokens per transaction (each token with all its sales and the refunds
        naming them), each batch locking its tokens' shards."""
        params = BuyerParams.from_json(run.rule_params, base=self.buyer_params)

        async def next_batch(conn: asyncpg.Connection, cursor: str) -> Batch | None:
            tokens = await store.next_buyer_tokens(conn, run, cursor, self.buyer_batch)
            return Batch(tokens, tokens[-1]) if tokens else None

        async def judge(conn: asyncpg.Connection, batch: Batch) -> tuple[int, int]:
            tokens = batch.keys
            await store.lock_buyer_shards(conn, tokens)
            events = await store.load_buyer_events(conn, tokens)
            found = [
                BuyerFinding(token, f)
                for token in tokens
                for f in evaluate_buyer(events[token].sales, events[token].refunds, ref, params, self.skew)
            ]
            return await store.sync_buyer_flags(
                conn, tokens, found, run_id=run.run_id, now=datetime.now(UTC), parties=ref.parties
            )

        await self._batches(
            run, Phase.BUYERS, next_batch=next_batch, judge=judge, cursor=run.buyer_cursor, progress=progress
        )
