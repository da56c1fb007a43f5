"""Worker processes for an in-process run: several cores judge one run, never meeting on a lock.

The run takes the next range of keys in key order (K batches' worth) and splits it by lock shard:
part w holds the keys with `shard_of(key) % K == w`. Lane w judges part w of each range in turn, one
part at a time, each in its own transaction in a worker process (its own event loop and
connection): load, evaluate, lock, compare, sync, and count its flag changes on the run. The K
parts being judged at any moment are of K different shard classes, so they never wait on each
other's locks, and a lane does not wait for the others to finish a range before starting its part
of the next. The run's cursor moves past a range, in order, once all its parts have committed; a
crash re-evaluates at most the open ranges, which changes nothing (syncing makes the flags match
the findings).

Pure-Python evaluation is the run's CPU cost, hence processes (spawned: no forked event loop or
pooled connection is inherited). A worker that dies fails the run with a reason (resumable), and a
worker's exception fails it with that exception; nothing waits forever on a dead process.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.store.locks import shard_of
from reconciler.store.runs import Phase, tally
from tracesvc.runtime.pool import WorkerPool
from tracesvc.store.db import create_engine, pg

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg


class Batch(NamedTuple):
    """The keys (codes, sale event ids or buyer tokens) one transaction judges (with workers: one range,
    split among them), and where the run's cursor stands once it has committed."""

    keys: Sequence[str]
    cursor: Any


class Judge(Protocol):
    """How a run judges a batch of keys (`jobs.Judge`; pickled into each worker process)."""

    @property
    def run_id(self) -> int: ...

    async def load(self, conn: asyncpg.Connection, phase: Phase, keys: Sequence[str]) -> Any: ...

    async def judge(
        self, conn: asyncpg.Connection, phase: Phase, keys: Sequence[str], loaded: Any
    ) -> tuple[int, int]: ...


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
            await tally(conn, judge.run_id, new=new, resolved=resolved)
    return new, resolved


def split(keys: Sequence[str], parts: int) -> list[list[str]]:
    """Keys by lock shard, `shard_of(key) % parts`: the parts' transactions lock disjoint shards."""
    out: list[list[str]] = [[] for _ in range(parts)]
    for key in keys:
        out[shard_of(key) % parts].append(key)
    return out


class Workers:
    """K worker processes, started once for a run."""

    def __init__(self, count: int, url: str, judge: Judge) -> None:
        self.count = count
        self._pool = WorkerPool("reconciler-worker", count, _start, (url, judge))

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # After a failure, do not wait for the other parts of the range: they end with their transaction.
        self._pool.close(grace=None if exc is None else 0)

    async def run(
        self,
        phase: Phase,
        cursor: Any,
        *,
        next_range: Callable[[Any], Awaitable[Batch | None]],
        committed: Callable[[Batch], Awaitable[None]],
    ) -> None:
        """Judge a phase's ranges from `cursor` on, part w of every range by one lane w, in range order.

        A lane has one part in flight at a time, so the K parts being judged at any moment belong to K
        different shard classes and never wait on each other's locks; a lane does not wait for the
        other lanes to finish a range before it starts its part of the next (at most `AHEAD` ranges are
        open). `committed` moves the run's cursor past each range, in order, once all its parts have
        committed: a crash re-evaluates at most the open ranges, which changes nothing."""
        lanes: list[asyncio.Queue[tuple[_Range, list[str]] | None]] = [asyncio.Queue() for _ in range(self.count)]
        open_ranges: deque[_Range] = deque()
        room = asyncio.Semaphore(AHEAD)
        in_order = asyncio.Lock()

        async def produce() -> None:
            after = cursor
            while True:
                await room.acquire()
                batch = await next_range(after)
                if batch is None:
                    break
                after = batch.cursor
                parts = split(batch.keys, self.count)
                rng = _Range(batch, sum(1 for p in parts if p))
                open_ranges.append(rng)
                for lane, part in zip(lanes, parts, strict=True):
                    if part:
                        lane.put_nowait((rng, part))
            for lane in lanes:
                lane.put_nowait(None)

        async def judge(lane: asyncio.Queue[tuple[_Range, list[str]] | None]) -> None:
            while (item := await lane.get()) is not None:
                rng, part = item
                await self._pool.run(_judge_part, phase, part)
                rng.parts_left -= 1
                async with in_order:
                    while open_ranges and not open_ranges[0].parts_left:
                        await committed(open_ranges.popleft().batch)
                        room.release()

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                for lane in lanes:
                    group.create_task(judge(lane))
        except BaseExceptionGroup as errors:
            raise _cause(phase, errors) from errors


AHEAD = 2  # ranges a run's lanes may be judging at once (re-evaluated after a crash)


@dataclass
class _Range:
    batch: Batch
    parts_left: int


def _cause(phase: Phase, errors: BaseExceptionGroup) -> BaseException:
    """What failed the run: the first error of its lanes (a dead process named as such)."""
    first = errors.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    if isinstance(first, BrokenProcessPool):
        return WorkerDied(f"a reconciler worker process died during the {phase.value} phase: {first}")
    return first
