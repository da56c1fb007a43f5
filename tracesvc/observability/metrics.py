"""Prometheus metrics: the standard gRPC server series and tracesvc's own, served on their own HTTP port.

Off unless TRACESVC_METRICS_LISTEN is set: then `enable()` imports prometheus_client and
creates the metrics, and every hook below records. While off, each hook is one global
look-up and a return, and prometheus_client is never imported (benchmarks/metrics.py).

This module is a leaf (standard library; prometheus_client and SQLAlchemy imported lazily; an
import-linter contract checks it): any layer may call its hooks, each a one-line call where the event happens:
  - `ingested`, `timed_commit`  the ingestion use case (tracesvc/service/ingest.py)
  - `verdicts`                  VerifyCodes (the verdicts on RecordSale acks come with `ingested`)
  - `run_finished`              reconciliation runs (reconciler/jobs.py)
  - `instrument_pool`           the SQLAlchemy engine (server wiring)
  - `rpc`                       the gRPC interceptor (tracesvc/api/rpc_metrics.py)
The /metrics endpoint is `exposition.serve`; the scrape-time database figures are `gauges`.

With several server processes (TRACESVC_WORKERS > 1) the values live in files under
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, chosen when it is imported,
so the server sets the variable before `enable()`), and the parent's endpoint sums them.
"""

# ruff: noqa: PLC0415, PLW0603  -- prometheus_client is imported only once metrics are on (and after PROMETHEUS_MULTIPROC_DIR is set); the metrics are process-wide.

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncEngine


T = TypeVar("T")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ENGINE_IN_PROCESS = "in_process"

# Seconds. Fine at the low end: VerifyCodes answers in a few milliseconds and its p99 is alerted on.
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 200, 500, 1000)
RUN_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
# How long a scrape waits for the database figures before it answers without them.
STANDING_TIMEOUT = 5.0


# -- what the hooks read (duck-typed, so this module imports no layer above the domain) --------------
class _Kinded(Protocol):
    @property
    def kind(self) -> Any: ...


class _Draft(_Kinded, Protocol):
    def code_rows(self) -> Sequence[tuple[str, int | None, int, bool, int, str]]: ...


class _RunCounts(Protocol):
    @property
    def codes_done(self) -> int: ...
    @property
    def sales_done(self) -> int: ...
    @property
    def flags_new(self) -> int: ...
    @property
    def flags_resolved(self) -> int: ...


class _Check(Protocol):
    @property
    def verdict(self) -> Any: ...


@dataclass
class _Metrics:
    started: Any
    handled: Any
    handling: Any
    received: Any
    sent: Any
    events: Any
    codes: Any
    batch: Any
    commit: Any
    verdicts: Any
    pool_in_use: Any
    pool_waiting: Any
    pool_capacity: Any
    runs: Any
    run_seconds: Any
    run_codes: Any
    run_sales: Any
    run_flags: Any
    http_requests: Any
    http_seconds: Any


_m: _Metrics | None = None
_registry: CollectorRegistry | None = None


def enabled() -> bool:
    return _m is not None


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def enable() -> None:
    """Create the metrics (once per process). Set PROMETHEUS_MULTIPROC_DIR before, if wanted."""
    global _m, _registry
    if _m is not None:
        return
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        disable_created_metrics,
        gc_collector,
        platform_collector,
        process_collector,
    )

    disable_created_metrics()  # the *_created series only double the exposition here
    multi = multiprocess_dir() is not None
    # In multiprocess mode values go to files and the endpoint reads the files: no registry.
    reg = None if multi else CollectorRegistry()
    if reg is not None:
        process_collector.ProcessCollector(registry=reg)
        platform_collector.PlatformCollector(registry=reg)
        gc_collector.GCCollector(registry=reg)
    rpc = ("grpc_type", "grpc_service", "grpc_method")
    run = ("mode", "engine")
    _m = _Metrics(
        started=Counter("grpc_server_started_total", "RPCs started on the server.", rpc, registry=reg),
        handled=Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, whatever their status.",
            (*rpc, "grpc_code"),
            registry=reg,
        ),
        handling=Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status.",
            rpc,
            buckets=RPC_BUCKETS,
            registry=reg,
        ),
        received=Counter(
            "grpc_server_msg_received_total", "Stream messages received on the server.", rpc, registry=reg
        ),
        sent=Counter("grpc_server_msg_sent_total", "Stream messages sent by the server.", rpc, registry=reg),
        events=Counter(
            "tracesvc_ingest_events_total",
            "Events acknowledged, by event kind and ack status.",
            ("kind", "status"),
            registry=reg,
        ),
        codes=Counter(
            "tracesvc_ingest_codes_total", "Trace-code rows stored (one per code per event line).", registry=reg
        ),
        batch=Histogram(
            "tracesvc_ingest_batch_events",
            "Events per ingest batch (a unary call or a stream group).",
            buckets=BATCH_BUCKETS,
            registry=reg,
        ),
        commit=Histogram(
            "tracesvc_ingest_commit_seconds",
            "Time to write and commit one ingest batch.",
            buckets=COMMIT_BUCKETS,
            registry=reg,
        ),
        verdicts=Counter(
            "tracesvc_verify_verdicts_total",
            "Verdicts given, by verdict and source (verify: VerifyCodes; sale: RecordSale acks).",
            ("verdict", "source"),
            registry=reg,
        ),
        pool_in_use=Gauge(
            "tracesvc_db_pool_in_use",
            "Database connections checked out of the pool.",
            multiprocess_mode="livesum",
            registry=reg,
        ),
        pool_waiting=Gauge(
            "tracesvc_db_pool_waiting",
            "Callers waiting for a database connection.",
            multiprocess_mode="livesum",
            registry=reg,
        ),
        pool_capacity=Gauge(
            "tracesvc_db_pool_capacity",
            "Connections the pool may open (size + overflow).",
            multiprocess_mode="livesum",
            registry=reg,
        ),
        runs=Counter(
            "tracesvc_reconcile_runs_total",
            "Reconciliation runs ended in this process, by status.",
            (*run, "status"),
            registry=reg,
        ),
        run_seconds=Histogram(
            "tracesvc_reconcile_run_seconds",
            "Wall time of reconciliation runs that ended.",
            run,
            buckets=RUN_BUCKETS,
            registry=reg,
        ),
        run_codes=Counter("tracesvc_reconcile_codes_total", "Codes evaluated by ended runs.", run, registry=reg),
        run_sales=Counter(
            "tracesvc_reconcile_sales_total", "Sales evaluated by ended runs (rule S).", run, registry=reg
        ),
        run_flags=Counter(
            "tracesvc_reconcile_flags_total",
            "Flags raised (new) or resolved by ended runs.",
            (*run, "change"),
            registry=reg,
        ),
        http_requests=Counter(
            "http_server_requests_total",
            "HTTP requests answered (intake, console, health), by method, route and status code.",
            ("method", "route", "status"),
            registry=reg,
        ),
        http_seconds=Histogram(
            "http_server_request_duration_seconds",
            "Time from an HTTP request's arrival to its answer.",
            ("method", "route"),
            buckets=RPC_BUCKETS,
            registry=reg,
        ),
    )
    _registry = reg


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """metric.labels(*labels), remembered: prometheus_client's look-up costs ~3 us (bounded label sets)."""
    key = (id(metric), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


# -- domain hooks ---------------------------------------------------------------------------------------
def ingested(drafts: Sequence[tuple[_Draft, Any]], acks: Sequence[_Kinded]) -> None:
    """One ingest batch: its size, and per event its kind and ack status; codes of the stored ones."""
    if _m is None and _captured is None:
        return
    events: dict[tuple[str, str], int] = {}
    stored = 0
    for (draft, _), ack in zip(drafts, acks, strict=True):
        key = (str(draft.kind), str(ack.kind))
        events[key] = events.get(key, 0) + 1
        if ack.kind == "STORED":
            stored += sum(1 for row in draft.code_rows() if row[3])
    checks: dict[str, int] = {}
    for a in acks:  # a stored sale's verdicts
        for c in getattr(a, "checks", ()):
            checks[str(c.verdict)] = checks.get(str(c.verdict), 0) + 1
    _note(IngestTally(len(drafts), events, stored, checks))


@dataclass(frozen=True)
class IngestTally:
    """What one ingest batch adds to the metrics, in plain values: a bulk-lane worker sends it to the
    serving process, which owns the metrics (multiprocess mode or not)."""

    batch: int
    events: dict[tuple[str, str], int]  # (kind, ack status) -> events
    stored_codes: int
    verdicts: dict[str, int]  # verdict -> scanned values of stored sales


@dataclass(frozen=True)
class CommitTime:
    seconds: float


Captured = IngestTally | CommitTime
# In a bulk-lane worker: observations kept here for the serving process instead of counted.
_captured: list[Captured] | None = None


def capture() -> None:
    """From now on this process keeps its ingest observations for `drain` (a bulk-lane worker)."""
    global _captured
    _captured = []


def drain() -> list[Captured]:
    """The observations kept since the last drain."""
    global _captured
    out, _captured = (_captured or []), ([] if _captured is not None else None)
    return out


def replay(observations: Iterable[Captured]) -> None:
    """Count observations another process made (a bulk-lane worker's)."""
    for o in observations:
        _note(o)


def _note(o: Captured) -> None:
    if _captured is not None:
        _captured.append(o)
        return
    m = _m
    if m is None:
        return
    if isinstance(o, CommitTime):
        m.commit.observe(o.seconds)
        return
    m.batch.observe(o.batch)
    for (kind, status), n in o.events.items():
        _child(m.events, kind, status).inc(n)
    if o.stored_codes:
        m.codes.inc(o.stored_codes)
    for verdict, n in o.verdicts.items():
        _child(m.verdicts, verdict, "sale").inc(n)


async def timed_commit(write: Awaitable[T]) -> T:
    """Await an ingest batch's write-and-commit, timing it."""
    if _m is None and _captured is None:
        return await write
    started = time.perf_counter()
    try:
        return await write
    finally:
        _note(CommitTime(time.perf_counter() - started))


def verdicts(checks: Iterable[_Check], source: str = "verify") -> None:
    m = _m
    if m is None:
        return
    tally: dict[Any, int] = {}
    for c in checks:
        tally[c.verdict] = tally.get(c.verdict, 0) + 1
    for verdict, n in tally.items():
        _child(m.verdicts, str(verdict), source).inc(n)


def run_finished(
    mode: str, status: str, seconds: float, counts: _RunCounts | None = None, engine: str = ENGINE_IN_PROCESS
) -> None:
    """A reconciliation run ended (DONE or FAILED): count it, with what it did when it is known."""
    m = _m
    if m is None:
        return
    mode, status = str(mode), str(status)
    m.runs.labels(mode, engine, status).inc()
    m.run_seconds.labels(mode, engine).observe(seconds)
    if counts is not None:
        m.run_codes.labels(mode, engine).inc(counts.codes_done)
        m.run_sales.labels(mode, engine).inc(counts.sales_done)
        m.run_flags.labels(mode, engine, "new").inc(counts.flags_new)
        m.run_flags.labels(mode, engine, "resolved").inc(counts.flags_resolved)


# -- the database pool -------------------------------------------------------------------------------------
def pool_waiters(pool: Any) -> int:
    """Callers blocked on an exhausted SQLAlchemy async pool.

    SQLAlchemy exposes no count of waiters; its async queue keeps them as asyncio.Queue getters
    (tests/integration/test_metrics.py fails should that change).
    """
    queue = getattr(getattr(pool, "_pool", None), "__dict__", {}).get("_queue")  # only once created
    getters = getattr(queue, "_getters", ())
    return sum(1 for f in getters if not f.done())


def instrument_pool(engine: AsyncEngine, every: float = 5.0) -> asyncio.Task | None:
    """Keep the pool gauges current: on every checkout and checkin, and every `every` s (a stuck pool
    has neither). Returns the sampling task (cancel it on shutdown); None when metrics are off."""
    m = _m
    if m is None:
        return None
    from sqlalchemy import event

    pool = engine.sync_engine.pool

    def sample(*_: object) -> None:
        m.pool_in_use.set(pool.checkedout())  # type: ignore[attr-defined]
        m.pool_waiting.set(pool_waiters(pool))

    m.pool_capacity.set(pool.size() + max(0, getattr(pool, "_max_overflow", 0)))  # type: ignore[attr-defined]
    event.listen(pool, "checkout", sample)
    event.listen(pool, "checkin", sample)

    async def tick() -> None:
        while True:
            sample()
            await asyncio.sleep(every)

    return asyncio.get_running_loop().create_task(tick(), name="metrics-pool-sampler")


# -- gRPC ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rpc:
    """One method's series, bound once per method: label look-ups cost microseconds each."""

    labels: tuple[str, str, str]
    started: Any
    handling: Any
    received: Any
    sent: Any
    _handled: dict[str, Any] = field(default_factory=dict)  # grpc_code -> its child

    def handled(self, code: str, seconds: float) -> None:
        child = self._handled.get(code)
        if child is None:
            assert _m is not None
            child = self._handled[code] = _m.handled.labels(*self.labels, code)
        child.inc()
        self.handling.observe(seconds)


_rpcs: dict[tuple[str, str], Rpc] = {}


def rpc(grpc_type: str, full_method: str) -> Rpc | None:
    """The series of a call to `/package.Service/Method`; None when metrics are off."""
    m = _m
    if m is None:
        return None
    found = _rpcs.get((grpc_type, full_method))
    if found is None:
        service, _, method = full_method.lstrip("/").partition("/")
        labels = (grpc_type, service, method)
        found = Rpc(
            labels,
            m.started.labels(*labels),
            m.handling.labels(*labels),
            m.received.labels(*labels),
            m.sent.labels(*labels),
        )
        _rpcs[(grpc_type, full_method)] = found  # one per method of the service: bounded
    return found


# -- HTTP ------------------------------------------------------------------------------------------------------
def http_answered(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request answered; `route` is its route's template (a bounded set), never the raw path."""
    m = _m
    if m is None:
        return
    _child(m.http_requests, method, route, str(status)).inc()
    _child(m.http_seconds, method, route).observe(seconds)


def registry() -> CollectorRegistry | None:
    """This process's own metrics (None until `enable()`), for the exposition endpoint."""
    return _registry
