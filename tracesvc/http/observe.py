"""One access-log line and the HTTP request series per request, as the gRPC interceptor does per call.

Pure ASGI (no BaseHTTPMiddleware): it sees the status as the response starts and the time when it
ends, and streams pass through untouched. Requests are labelled by route template, never by raw
path (ids in paths would make the series unbounded); a query string is never logged.
"""

from __future__ import annotations

import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracesvc.observability import metrics

log = structlog.get_logger("tracesvc.http")

# (path prefix, route label), first match wins; anything else is "other".
_ROUTES = (
    ("/healthz", "/healthz"),
    ("/nhsa/v1/", "/nhsa/v1/{infno}"),
    ("/epcis/capture/", "/epcis/capture/{capture_id}"),
    ("/epcis/capture", "/epcis/capture"),
    ("/epcis/events/", "/epcis/events/{event_id}"),
    ("/epcis/events", "/epcis/events"),
    ("/console/static/", "/console/static"),
    ("/console", "/console"),
)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(path: str) -> str:
    for prefix, label in _ROUTES:
        if path == prefix or path.startswith(prefix):
            return label
    return "other"


class AccessLog:
    """Wraps the HTTP app: a request id per request (the caller's `X-Request-Id` when it sends a
    sane one), echoed in the answer's `X-Request-Id`; a log line (info below 400, warning for 4xx,
    error for 5xx) and the metrics once the answer is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500  # what a request that fails before answering counts as

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, answered)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"  # a bounded label
            path = scope["path"]
            route = route_of(path)
            metrics.http_answered(method, route, status, seconds)
            level = log.info if status < 400 else log.warning if status < 500 else log.error
            level(
                "http",
                request_id=request_id,
                method=method,
                route=route,
                path=path[:200],
                status=status,
                ms=round(seconds * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if 0 < len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given):
                return given
    return secrets.token_hex(16)
