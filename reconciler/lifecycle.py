"""A run's lifecycle, the same for both engines: begin, then done or failed — the run record, the
run metrics and the log line, in one place (the in-process engine and the Spark engine had each
written their own, and they had drifted)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.store.runs import Engine, RunInfo, Status, get_run, mark_done, mark_failed, mark_running, restart_run
from tracesvc.observability import metrics
from tracesvc.store.db import pg

log = structlog.get_logger(__name__)


def failure_reason(exc: BaseException) -> str:
    """One short paragraph: Spark's errors carry whole Java stack traces."""
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
        return "interrupted"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.lstrip().startswith("at ")]
    return f"{type(exc).__name__}: {' '.join(lines)[:1000]}"


@dataclass
class RunLifecycle:
    engine: AsyncEngine
    run_id: int
    _run: RunInfo | None = None
    _started: float = field(default_factory=time.perf_counter)

    async def begin(self, *, from_scratch: bool = False) -> RunInfo:
        """Mark the recorded run RUNNING and return it; a DONE run is returned as it is (nothing to do).
        `from_scratch` (Spark: a run redoes all its buckets, syncing is idempotent) zeroes its counts;
        otherwise it resumes from its cursors."""
        async with pg(self.engine) as conn:
            run = await get_run(conn, self.run_id)
            if run is None:
                raise LookupError(f"no run {self.run_id}")
            if run.status is not Status.DONE:
                await (restart_run if from_scratch else mark_running)(conn, self.run_id)
                run = await get_run(conn, self.run_id)
                assert run is not None
        self._run, self._started = run, time.perf_counter()
        return run

    async def done(self) -> RunInfo:
        async with pg(self.engine) as conn:
            info = await mark_done(conn, self.run_id)
        seconds = time.perf_counter() - self._started
        metrics.run_finished(info.mode, info.status, seconds, info, engine=_label(info.engine))
        log.info(
            "run_done",
            run_id=self.run_id,
            engine=info.engine.value,
            mode=info.mode.value,
            codes=info.codes_done,
            sales=info.sales_done,
            buyers=info.buyers_done,
            flags_new=info.flags_new,
            flags_resolved=info.flags_resolved,
            seconds=round(seconds, 3),
        )
        return info

    async def fail(self, exc: BaseException) -> str:
        """Record the failure (never over a run that is DONE), count it, log it; returns the reason."""
        reason = failure_reason(exc)
        async with pg(self.engine) as conn:
            await mark_failed(conn, self.run_id, reason)
        run = self._run
        mode = run.mode if run else "?"
        engine = _label(run.engine) if run else metrics.ENGINE_IN_PROCESS
        metrics.run_finished(mode, Status.FAILED, time.perf_counter() - self._started, engine=engine)
        log.warning("run_failed", run_id=self.run_id, error=reason)
        return reason


def _label(engine: Engine) -> str:
    return metrics.ENGINE_IN_PROCESS if engine is Engine.IN_PROCESS else engine.value.lower()
