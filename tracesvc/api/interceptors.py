"""Per-call logging: a request id bound to every log line of the call, and one line at its end.

Payloads are never logged (they may carry insured-person numbers)."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import structlog

log = structlog.get_logger("tracesvc.rpc")


def _request_id(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


def _begin(request_id: str, method: str) -> float:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, method=method)
    return time.perf_counter()


def _end(context: grpc.aio.ServicerContext, started: float, exc: BaseException | None) -> None:
    if exc is None or isinstance(exc, grpc.aio.AbortError):
        c = context.code()
        code = c.name if isinstance(c, grpc.StatusCode) else "OK"
    elif isinstance(exc, asyncio.CancelledError):
        code = "CANCELLED"
    else:
        code = "INTERNAL"
        log.error("rpc_failed", error=type(exc).__name__, exc_info=exc)
    log.info("rpc", code=code, ms=round((time.perf_counter() - started) * 1000, 2))


class RequestLogInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        request_id = _request_id(handler_call_details)

        def unary_response(inner):
            async def wrapped(request, context):
                started, exc = _begin(request_id, method), None
                try:
                    return await inner(request, context)
                except BaseException as e:
                    exc = e
                    raise
                finally:
                    _end(context, started, exc)
            return wrapped

        def stream_response(inner):
            async def wrapped(request, context):
                started, exc = _begin(request_id, method), None
                try:
                    async for response in inner(request, context):
                        yield response
                except BaseException as e:
                    exc = e
                    raise
                finally:
                    _end(context, started, exc)
            return wrapped

        codec = {"request_deserializer": handler.request_deserializer,
                 "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **codec)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **codec)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream), **codec)
        return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream), **codec)
