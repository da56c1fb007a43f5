"""The bulk lane (issue 13): stream groups, unary batches and HTTP documents of more than
INLINE_MAX_CODES codes are converted, validated, serialised and written in worker processes that
run at a lower CPU priority.

Everything shares one event loop otherwise, so a wholesaler uploading delivery notes (tens of µs
of Python per code) would hold up a pharmacy verifying one box. Here the serving process only
receives messages (parsed in C), hands their bytes to a worker and relays the acks; the worker
runs the same pipeline as the inline path (convert → Ingestor → acks) on its own connection pool.
Being niced, it gets the CPU only when the serving process does not want it: verification keeps
its latency and bulk ingestion takes what is left.

A worker owns nothing but a cache: it keeps its own copy of the registry, reloaded when the
serving process's registry generation moves (an upsert seen here is seen by the next batch
there), and writes through the same idempotent write path, so a worker that dies mid-batch
loses nothing acked: its call runs again on a fresh worker (DUPLICATE where the lost one had
committed), and fails UNAVAILABLE only if that one dies too.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from multiprocessing.util import Finalize
from typing import Any, NamedTuple

import structlog

from tracesvc.api import ingest_pipeline
from tracesvc.domain.events import Draft, EventKind
from tracesvc.observability import logs, metrics
from tracesvc.runtime.pool import WorkerPool
from tracesvc.service.access import Principal
from tracesvc.service.errors import Unavailable
from tracesvc.service.ingest import Ack, Ingestor
from tracesvc.store import faults
from tracesvc.store.db import create_engine, share_niceness_with_backends
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import ack_pb2, events_pb2

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LaneSettings:
    """What a worker needs to build its own ingest pipeline (picklable: it crosses to the worker)."""

    database_url: str
    hmac_key: bytes
    max_future: timedelta
    nice: int = 10  # added to the worker's niceness: the serving process wins the CPU when it wants it
    pool_size: int = 2  # a worker writes one batch at a time; one more connection for its registry reloads
    log_level: str = "info"
    log_format: str = "json"
    metrics: bool = False  # the serving process counts: keep each batch's observations for it


# A call carrying more codes than this goes to the bulk lane; a POS sale or a small note stays on
# the serving loop, which answers it without a process hop.
INLINE_MAX_CODES = 50


class _Shape(StrEnum):
    BATCH = "batch"  # a unary call's serialised messages, all of `_Call.kind`
    GROUP = "group"  # a stream's serialised events, each naming its kind
    DRAFTS = "drafts"  # the drafts an HTTP intake document was mapped to


class _Call(NamedTuple):
    shape: _Shape
    messages: list[bytes]
    first_index: int
    principal: Principal
    registry_generation: int
    log_context: dict[str, Any]
    kind: EventKind | None = None  # BATCH: the kind of its messages
    drafts: tuple[Draft, ...] = ()


class BulkLane:
    """Worker processes for bulk ingestion; started on first use, replaced if one dies."""

    def __init__(self, settings: LaneSettings, processes: int) -> None:
        self._pool = WorkerPool("tracesvc-bulk", processes, _start_worker, (settings,))

    async def ingest_batch(
        self, kind: EventKind, messages: Sequence[Any], principal: Principal, registry_generation: int
    ) -> list[ack_pb2.EventAck]:
        """A unary call's events (receipts, sales… of one kind), acked in order."""
        raw = [m.SerializeToString() for m in messages]
        call = _Call(_Shape.BATCH, raw, 0, principal, registry_generation, _log_context(), kind=kind)
        return await self._run(call)

    async def ingest_group(
        self, group: Sequence[events_pb2.Event], first_index: int, principal: Principal, registry_generation: int
    ) -> list[ack_pb2.EventAck]:
        """A stream's group of events, acked in order from `first_index`."""
        raw = [e.SerializeToString() for e in group]
        return await self._run(_Call(_Shape.GROUP, raw, first_index, principal, registry_generation, _log_context()))

    async def ingest_drafts(self, drafts: Sequence[Draft], principal: Principal, registry_generation: int) -> list[Ack]:
        """Drafts an intake document was mapped to, acked in order (as Ingestor.ingest does)."""
        call = _Call(_Shape.DRAFTS, [], 0, principal, registry_generation, _log_context(), drafts=tuple(drafts))
        return await self._run(call)

    async def _run(self, call: _Call) -> list[Any]:
        for attempt in range(2):
            executor = self._pool.executor
            try:
                acks, observations = await self._pool.run(_work, call)
            except BrokenProcessPool:
                # A worker died (killed, out of memory). What it committed stays committed and writes
                # are idempotent, so the call is run once more on a fresh pool: its events are then
                # STORED, or DUPLICATE where the lost worker had committed them — both mean stored.
                self._pool.replace(executor)
                log.error("bulk_worker_lost", attempt=attempt + 1)
                continue
            metrics.replay(observations)  # the worker's batches counted here, where the metrics live
            if call.shape is _Shape.DRAFTS:
                return acks
            return [ack_pb2.EventAck.FromString(a) for a in acks]
        raise Unavailable("bulk ingestion workers keep failing; retry the call later")

    async def warm(self, registry_generation: int) -> None:
        """Start every worker now, each with a connection and the registry loaded, instead of at
        the first bulk call (a spawned worker takes a second or two to import and connect)."""
        warm = functools.partial(_warm, registry_generation)
        warmed: set[int] = set()
        for _ in range(5):  # submitted together, each finds no idle worker and spawns its own; a
            # worker that was quicker may take two, so go on until every one has answered
            warmed |= set(await asyncio.gather(*(self._pool.run(warm) for _ in range(self._pool.count))))
            if len(warmed) >= self._pool.count:
                return

    def close(self, grace: float = 30.0) -> None:
        """Let running batches finish (at most `grace` seconds), then stop the workers: a batch stuck
        on a lock must not keep the server from exiting (its transaction rolls back)."""
        for process in self._pool.close(grace):
            log.warning("bulk_worker_stopped", pid=process.pid)


def _log_context() -> dict[str, Any]:
    return dict(structlog.contextvars.get_contextvars())


# -- the worker side -------------------------------------------------------------------------------


class _Worker:
    def __init__(self, settings: LaneSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(settings.database_url, pool_size=settings.pool_size)
        share_niceness_with_backends(self.engine)
        self.generation = -1
        self.ingestor = self._ingestor()

    def _ingestor(self) -> Ingestor:
        return Ingestor(self.engine, RegistryCache(self.engine), max_future=self.settings.max_future)

    async def handle(self, call: _Call) -> list[bytes] | list[Ack]:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**call.log_context, lane="bulk")
        if call.registry_generation != self.generation:
            # The serving process wrote to the registry since: read it afresh rather than wait for the TTL.
            self.ingestor = self._ingestor()
            self.generation = call.registry_generation
        key = self.settings.hmac_key
        if call.shape is _Shape.DRAFTS:
            return await self.ingestor.ingest(call.drafts, call.principal)
        if call.shape is _Shape.BATCH:
            assert call.kind is not None
            kind = call.kind
            cls = ingest_pipeline.MESSAGE_OF_KIND[kind]
            messages = [cls.FromString(m) for m in call.messages]
            acks = await ingest_pipeline.acks_of_batch(self.ingestor, key, kind, messages, call.principal)
        else:
            events = [events_pb2.Event.FromString(m) for m in call.messages]
            acks = await ingest_pipeline.acks_of_group(self.ingestor, key, events, call.first_index, call.principal)
        return [a.SerializeToString() for a in acks]

    async def warm(self, registry_generation: int) -> None:
        await self.ingestor.warm()
        self.generation = registry_generation  # the registry as it stands at that generation

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


_worker: _Worker | None = None


def _start_worker(settings: LaneSettings) -> None:
    global _worker  # noqa: PLW0603 -- one pipeline per worker process, built once
    # Ctrl-C in a terminal reaches the whole process group: the serving process shuts down gracefully
    # and stops its workers; a worker interrupted mid-batch would break the pool instead. (SIGTERM
    # is left alone: the pool uses it to stop a broken pool's workers.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if settings.nice:
        os.nice(settings.nice)
    logs.configure(settings.log_level, settings.log_format)
    if settings.metrics:
        metrics.capture()
    _worker = _Worker(settings)
    Finalize(None, _worker.close, exitpriority=10)  # close the pool's connections cleanly at exit
    # A worker outlives a parent that was killed (it holds both ends of its task queue, so it never
    # sees the queue close): leave with it instead of idling with an open connection forever.
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="exit-with-parent", daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _warm(registry_generation: int) -> int:
    """Connect and load the registry; this worker's pid."""
    assert _worker is not None, "worker not started"
    time.sleep(0.05)  # held a moment, so that the other warm-up calls find no idle worker and spawn theirs
    try:
        _worker.loop.run_until_complete(_worker.warm(registry_generation))
    except Exception as exc:
        raise _portable(exc) from None
    return os.getpid()


def _work(call: _Call) -> tuple[list[Any], list[metrics.Captured]]:  # serialised EventAcks, or Acks
    assert _worker is not None, "worker not started"
    try:
        acks = _worker.loop.run_until_complete(_worker.handle(call))
        return acks, metrics.drain()
    except Exception as exc:
        metrics.drain()  # a failed batch counted nothing
        raise _portable(exc) from None


def _portable(exc: Exception) -> Exception:
    """What the serving process needs of a worker's failure, in a form that crosses the process
    boundary (the driver's exceptions do not unpickle reliably, and one that fails to would break
    the whole pool): a retryable database fault, or an internal error it reports with its request id."""
    fault = faults.classify(exc)
    if fault is not None:
        return faults.FaultElsewhere(fault.value)
    log.error("bulk_ingest_failed", error=type(exc).__name__, exc_info=exc)
    return RuntimeError(f"bulk ingestion failed: {type(exc).__name__}")
