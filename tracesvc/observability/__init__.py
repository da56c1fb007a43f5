"""Observability: Prometheus metrics, OpenTelemetry traces and structlog set-up. A leaf room:
it imports nothing of tracesvc's above the store, so every layer may call its hooks."""
