"""Wiring of a server's telemetry: Prometheus metrics and OpenTelemetry traces, each off unless configured."""

# ruff: noqa: PLC0415, PLW0603  -- the gRPC metrics interceptor is imported only when metrics are on.

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.app.config import Config
from tracesvc.observability import exposition, metrics, tracing
from tracesvc.observability.gauges import StandingCollector
from tracesvc.store import ops


@dataclass
class Telemetry:
    # Outermost first: the trace span opens before the call is timed and logged.
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    metrics_port: int | None = None  # the /metrics endpoint's port, when this process serves it
    _endpoint: exposition.Endpoint | None = None
    _sampler: asyncio.Task | None = None
    _tracing: tracing.Tracing | None = None

    def close(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
        if self._sampler is not None:
            self._sampler.cancel()
        if self._tracing is not None:
            self._tracing.close()


def start(config: Config, engine: AsyncEngine) -> Telemetry:
    """Metrics when TRACESVC_METRICS_LISTEN is set (or this is a worker of a server that serves them:
    PROMETHEUS_MULTIPROC_DIR); traces when OTEL_TRACES_EXPORTER names an exporter. Call on the loop."""
    out = Telemetry()
    if config.tracing:
        out._tracing = tracing.setup()
        out.interceptors.append(out._tracing.interceptor)
    if config.metrics_listen or metrics.multiprocess_dir():
        from tracesvc.api.rpc_metrics import MetricsInterceptor

        metrics.enable()
        out.interceptors.append(MetricsInterceptor())
        out._sampler = metrics.instrument_pool(engine)
        if config.metrics_listen:
            standing = StandingCollector(lambda: ops.standing(engine), asyncio.get_running_loop())
            out._endpoint = exposition.serve(config.metrics_listen, [standing])
            out.metrics_port = out._endpoint.port
    return out
