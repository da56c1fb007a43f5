"""OpenTelemetry traces: a span per RPC and per database call inside it, exported over OTLP.

Off by default. On when OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`; several
separated by commas); everything else comes from the standard variables: OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (`grpc`,
the default, or `http/protobuf`), OTEL_TRACES_SAMPLER, OTEL_BSP_*. Nothing of OpenTelemetry
is imported while it is off: `current_trace_id` is then one global look-up.
"""

# ruff: noqa: PLC0415, PLW0603  -- OpenTelemetry is imported only once tracing is on; its provider is process-wide.

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

SERVICE_NAME = "tracesvc"

_provider: TracerProvider | None = None
_active = False


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits) when tracing is on, else None."""
    if not _active:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _exporters(env: dict[str, str] | os._Environ[str]) -> list[SpanExporter]:
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    out: list[SpanExporter] = []
    for name in names:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            out.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            if protocol.startswith("http"):
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

                out.append(HttpExporter())  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

                out.append(OTLPSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")
    return out


def _provider_once(exporters: list[SpanExporter], batch: bool) -> TracerProvider:
    """The process's tracer provider (OpenTelemetry allows one), with span processors for `exporters`."""
    global _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if _provider is None:
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create; ours is the default.
        given = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
        _provider = TracerProvider(resource=Resource.create({} if given else {"service.name": SERVICE_NAME}))
        trace.set_tracer_provider(_provider)
    for exporter in exporters:
        _provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return _provider


def export_to(exporter: SpanExporter) -> None:
    """Also send every span to `exporter` as it ends (tests keep them in memory)."""
    _provider_once([exporter], batch=False)


@dataclass
class Tracing:
    """Tracing for a server: its interceptor; `close` flushes and stops the database spans."""

    provider: TracerProvider
    interceptor: grpc.aio.ServerInterceptor

    def close(self) -> None:
        global _active
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        _active = False
        AsyncPGInstrumentor().uninstrument()
        self.provider.force_flush()


def setup() -> Tracing:
    """Start tracing: spans to the exporters of OTEL_TRACES_EXPORTER, in batches.

    Database spans come from the asyncpg instrumentation alone: it sees every statement, both
    those sent through asyncpg directly (tracesvc.store.db.pg, the hot paths) and SQLAlchemy's,
    which its asyncpg dialect runs as prepared statements. SQLAlchemy's own instrumentation
    would add a second span for each of those.
    """
    global _active
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.grpc import aio_server_interceptor
    except ImportError as exc:
        raise RuntimeError("OTEL_TRACES_EXPORTER is set: tracing needs pip install 'tracesvc[otel]'") from exc

    provider = _provider_once(_exporters(os.environ) if _provider is None else [], batch=True)  # once a process
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    _active = True
    return Tracing(provider, aio_server_interceptor(tracer_provider=provider))
