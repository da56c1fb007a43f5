"""One pool of spawned worker processes, for the bulk ingest lane and the reconciler's workers.

`ProcessPoolExecutor` with what both need and the executor does not offer in public: its workers
carry a name (``<name>#<pool>-<n>``), so the pool finds them among `multiprocessing.active_children()`
to bound its shutdown, an operator sees them in `ps`, and a test can tell one pool's workers from
another's; a pool broken by a dead worker is replaced by a fresh one on the next call.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait as wait_ready
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

R = TypeVar("R")
_serial = itertools.count(1)


class _NamedSpawn(SpawnContext):
    """spawn, not fork (a serving process runs gRPC's threads, which a fork would copy half-way),
    with every process named after its pool."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix
        self._count = itertools.count(1)

    def Process(self, *args: Any, **kwargs: Any) -> SpawnProcess:  # type: ignore[override]  # the context API
        kwargs["name"] = f"{self._prefix}{next(self._count)}"
        return SpawnProcess(*args, **kwargs)


class WorkerPool:
    """`count` worker processes, each set up once by `initializer(*initargs)`; started on first use."""

    def __init__(self, name: str, count: int, initializer: Callable[..., None], initargs: tuple[Any, ...] = ()) -> None:
        self.count = count
        self._prefix = f"{name}#{next(_serial)}-"
        self._initializer = initializer
        self._initargs = initargs
        self._executor: ProcessPoolExecutor | None = None

    @property
    def executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.count,
                mp_context=_NamedSpawn(self._prefix),
                initializer=self._initializer,
                initargs=self._initargs,
            )
        return self._executor

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(*args)` in a worker. Raises BrokenProcessPool when a worker died; `replace` then."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop a pool a dead worker broke (if no other call replaced it already): the next call starts anew."""
        if self._executor is broken:
            self._executor = None
            broken.shutdown(wait=False, cancel_futures=True)

    def processes(self) -> list[BaseProcess]:
        """This pool's live worker processes."""
        return [p for p in multiprocessing.active_children() if p.name.startswith(self._prefix)]

    def close(self, grace: float | None = None) -> list[BaseProcess]:
        """Stop the workers: cancel what has not started, let running work finish for at most `grace`
        seconds (None: as long as it takes; 0: not at all), then terminate. Returns the terminated."""
        executor, self._executor = self._executor, None
        if executor is None:
            return []
        if grace is None:
            executor.shutdown(wait=True, cancel_futures=True)
            return []
        processes = self.processes()
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        stuck = [p for p in processes if not _ended(p)]
        for process in stuck:
            process.terminate()
            process.join(5)
        return stuck


def _ended(process: BaseProcess) -> bool:
    """Whether a worker has exited, read from its sentinel (readable once the process is gone), not from
    `is_alive()`: the executor's own thread reaps the same processes, and `is_alive()` can read one it
    has just reaped as still running (waitpid answers ECHILD before the other thread records the exit
    code) — a worker that stopped on time was then reported stuck."""
    try:
        return bool(wait_ready([process.sentinel], timeout=0))
    except ValueError:  # the process object was closed: it had ended
        return True
