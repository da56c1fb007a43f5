"""Worker processes for an in-process run: several cores judge one run, never meeting on a lock.

The run's coordinator (`jobs.Reconciler`) takes the next range of keys in key order (K batches'
worth) and splits it by lock shard: worker part w holds the keys with `shard_of(key) % K == w`, so
the K transactions judging one range lock disjoint shards and never wait on each other. Each part
is judged in its own transaction in a worker process (its own event loop and connection): load,
evaluate, lock, compare, sync, and count its flag changes on the run. The coordinator moves the
run's cursor once every part of the range has committed; a crash in between re-evaluates at most
that range, which changes nothing (syncing makes the flags match the findings).

Pure-Python evaluation is the run's CPU cost, hence processes (spawned: no forked event loop or
pooled connection is inherited). A worker that dies fails the run with a reason (resumable), and a
worker's exception fails it with that exception; nothing waits forever on a dead process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler import store
from reconciler.store import Phase
from tracesvc.store.db import create_engine, pg

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.jobs import Judge


class WorkerDied(RuntimeError):
    """A worker process ended abruptly (killed, out of memory): the run fails and can be resumed."""


@dataclass
class _State:
    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    judge: Judge


_here: list[_State] = []  # in a worker process: its loop, its engine, the run's judge


def _start(url: str, judge: Judge) -> None:
    _here.append(_State(asyncio.new_event_loop(), create_engine(url, pool_size=1), judge))


def _judge_part(phase: Phase, keys: Sequence[str]) -> tuple[int, int]:
    state = _here[0]
    return state.loop.run_until_complete(_judge(state, phase, keys))


async def _judge(state: _State, phase: Phase, keys: Sequence[str]) -> tuple[int, int]:
    judge = state.judge
    async with pg(state.engine) as conn:
        loaded = await judge.load(conn, phase, keys)
        async with conn.transaction():
            new, resolved = await judge.judge(conn, phase, keys, loaded)
            await store.tally(conn, judge.run_id, new=new, resolved=resolved)
    return new, resolved


def split(keys: Sequence[str], parts: int) -> list[list[str]]:
    """Keys by lock shard, `shard_of(key) % parts`: the parts' transactions lock disjoint shards."""
    out: list[list[str]] = [[] for _ in range(parts)]
    for key in keys:
        out[store.shard_of(key) % parts].append(key)
    return out


class Workers:
    """K worker processes, started once for a run."""

    def __init__(self, count: int, url: str, judge: Judge) -> None:
        self.count = count
        self._pool = ProcessPoolExecutor(
            count, mp_context=multiprocessing.get_context("spawn"), initializer=_start, initargs=(url, judge)
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # After a failure, do not wait for the other parts of the range: they end with their transaction.
        self._pool.shutdown(wait=exc is None, cancel_futures=True)

    async def judge(self, phase: Phase, keys: Sequence[str]) -> tuple[int, int]:
        """Judge a range of keys, each shard part in its own worker transaction; (new, resolved) summed."""
        loop = asyncio.get_running_loop()
        parts = [p for p in split(keys, self.count) if p]
        try:
            results = await asyncio.gather(*(loop.run_in_executor(self._pool, _judge_part, phase, p) for p in parts))
        except BrokenProcessPool as exc:
            raise WorkerDied(f"a reconciler worker process died during the {phase.value} phase: {exc}") from exc
        return sum(r[0] for r in results), sum(r[1] for r in results)
