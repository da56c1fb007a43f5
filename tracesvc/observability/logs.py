"""structlog set-up: JSON lines (or console) with the call's bound request id."""

from __future__ import annotations

import logging
import secrets
import sys
from typing import TextIO

import structlog


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def request_id() -> str:
    """The id the current request's log lines carry (bound by the HTTP access log, echoed in its
    `X-Request-Id`), so an error page names the same one; a fresh id outside a request."""
    bound = structlog.contextvars.get_contextvars().get("request_id")
    return str(bound) if bound else secrets.token_hex(8)
