"""WorkerPool.close: workers that stop on time are not reported; one stuck past the grace is terminated."""

from __future__ import annotations

import asyncio
import time

from tracesvc.runtime.pool import WorkerPool


def _noop() -> None:
    return None


def _pid() -> int:
    import os  # noqa: PLC0415 (runs in the worker)

    return os.getpid()


def _mark_then_sleep(mark: str, seconds: float) -> None:
    from pathlib import Path  # noqa: PLC0415 (runs in the worker)

    Path(mark).touch()
    time.sleep(seconds)


async def test_workers_that_stop_on_time_are_not_reported_stuck():
    # The executor's own thread reaps the workers as they exit; the pool must not read a worker it has
    # just reaped as still running (it did, about one shutdown in six, and logged bulk_worker_stopped).
    for _ in range(16):
        pool = WorkerPool("t-idle", 2, _noop)
        await asyncio.gather(pool.run(_pid), pool.run(_pid))
        started = time.monotonic()
        assert pool.close(grace=30) == []
        assert time.monotonic() - started < 10


async def test_a_worker_stuck_past_the_grace_is_terminated_and_reported(tmp_path):
    pool = WorkerPool("t-stuck", 1, _noop)
    pid = await pool.run(_pid)
    mark = tmp_path / "started"
    running = asyncio.ensure_future(pool.run(_mark_then_sleep, str(mark), 60))
    while not mark.exists():  # the call has reached the worker (close cancels only what has not started)
        await asyncio.sleep(0.05)
    started = time.monotonic()
    stuck = await asyncio.to_thread(pool.close, 1.0)
    assert [p.pid for p in stuck] == [pid] and not stuck[0].is_alive()
    assert time.monotonic() - started < 10
    running.cancel()
