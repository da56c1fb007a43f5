"""Server interceptors: per-call logging (a request id on every log line of the call) and
authentication. Payloads are never logged (they may carry insured-person numbers)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import grpc
import structlog

from tracesvc.observability import tracing
from tracesvc.store import faults

log = structlog.get_logger("tracesvc.rpc")

Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager]
# What a grpc.aio server interceptor is given to reach the next one (every interceptor here).
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


def wrap(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    """The same handler, run inside `around(context)` whatever its streaming shape."""

    def unary_response(inner):
        async def wrapped(request, context):
            async with around(context):
                return await inner(request, context)

        return wrapped

    def stream_response(inner):
        async def wrapped(request, context):
            async with around(context):
                async for response in inner(request, context):
                    yield response

        return wrapped

    codec = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **codec)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **codec)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream), **codec)
    return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream), **codec)


def _request_id(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


_STATUS_OF_FAULT = {
    faults.Fault.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, "database unavailable; retry with backoff"),
    faults.Fault.ABORTED: (grpc.StatusCode.ABORTED, "transaction aborted by a concurrent one; retry"),
}


class RequestLogInterceptor(grpc.aio.ServerInterceptor):
    """One log line per call (code, time), and the one place where an exception no layer below
    handled becomes a status: a database fault UNAVAILABLE or ABORTED (retryable, no SQL in the
    message), anything else INTERNAL naming only the request id (the traceback goes to the log,
    once). A client never sees UNKNOWN or internals."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        request_id = _request_id(handler_call_details)

        @contextlib.asynccontextmanager
        async def logged(context):
            structlog.contextvars.clear_contextvars()
            rid = tracing.current_trace_id() or request_id
            structlog.contextvars.bind_contextvars(request_id=rid, method=method)
            started = time.perf_counter()
            try:
                yield
            except (grpc.aio.AbortError, asyncio.CancelledError) as exc:
                code = "CANCELLED" if isinstance(exc, asyncio.CancelledError) else _code_name(context)
                log.info("rpc", code=code, ms=_ms(started))
                raise
            except Exception as exc:
                fault = faults.classify(exc)
                if fault is None:
                    log.error("rpc", code="INTERNAL", error=type(exc).__name__, ms=_ms(started), exc_info=exc)
                    status, message = grpc.StatusCode.INTERNAL, f"internal error; request id {rid}"
                else:
                    status, message = _STATUS_OF_FAULT[fault]
                    log.warning("rpc", code=status.name, error=type(exc).__name__, ms=_ms(started))
                await context.abort(status, message)
            else:
                log.info("rpc", code=_code_name(context), ms=_ms(started))

        return wrap(handler, logged)


def _code_name(context) -> str:
    c = context.code()
    return c.name if isinstance(c, grpc.StatusCode) else "OK"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
