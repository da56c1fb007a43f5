"""Server interceptors: per-call logging (a request id on every log line of the call) and
authentication. Payloads are never logged (they may carry insured-person numbers)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import grpc
import structlog

from tracesvc import tracing

log = structlog.get_logger("tracesvc.rpc")

Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager]


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


class RequestLogInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        request_id = _request_id(handler_call_details)

        @contextlib.asynccontextmanager
        async def logged(context):
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(request_id=tracing.current_trace_id() or request_id, method=method)
            started = time.perf_counter()
            exc: BaseException | None = None
            try:
                yield
            except BaseException as e:
                exc = e
                raise
            finally:
                if exc is None or isinstance(exc, grpc.aio.AbortError):
                    c = context.code()
                    code = c.name if isinstance(c, grpc.StatusCode) else "OK"
                elif isinstance(exc, asyncio.CancelledError):
                    code = "CANCELLED"
                else:
                    code = "INTERNAL"
                    log.error("rpc_failed", error=type(exc).__name__, exc_info=exc)
                log.info("rpc", code=code, ms=round((time.perf_counter() - started) * 1000, 2))

        return wrap(handler, logged)
