"""gRPC server metrics for grpc.aio under the standard names (those of go-grpc-prometheus and
py-grpc-prometheus, which serves only sync servers): started, handled by code, handling time,
stream messages received and sent. Codes are named as in the other gRPC languages ("OK",
"InvalidArgument", "DeadlineExceeded"), so common dashboards and alerts apply unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from tracesvc.api.interceptors import Continuation, wrap
from tracesvc.observability import metrics

UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI_STREAM = "unary", "client_stream", "server_stream", "bidi_stream"


def code_label(code: grpc.StatusCode) -> str:
    """The code's name as gRPC's other languages print it: DEADLINE_EXCEEDED -> DeadlineExceeded."""
    return "OK" if code is grpc.StatusCode.OK else code.name.title().replace("_", "")


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming:
        return BIDI_STREAM if handler.response_streaming else CLIENT_STREAM
    return SERVER_STREAM if handler.response_streaming else UNARY


def _status(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status a call ended with, as the client sees it."""
    if exc is None or isinstance(exc, grpc.aio.AbortError):
        code = context.code()
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # grpc.aio answers an unhandled exception with UNKNOWN


def _counting(handler: grpc.RpcMethodHandler, rpc: metrics.Rpc) -> grpc.RpcMethodHandler:
    """The same handler, counting each request and response message as it passes."""
    codec = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary_out(_unary_in(handler.unary_unary, rpc), rpc), **codec)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_unary_out(_stream_in(handler.stream_unary, rpc), rpc), **codec)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_stream_out(_unary_in(handler.unary_stream, rpc), rpc), **codec)
    assert handler.stream_stream is not None  # the one shape left
    return grpc.stream_stream_rpc_method_handler(_stream_out(_stream_in(handler.stream_stream, rpc), rpc), **codec)


def _unary_in(inner: Callable[..., Any], rpc: metrics.Rpc) -> Callable[..., Any]:
    def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc.received.inc()
        return inner(request, context)

    return call


def _stream_in(inner: Callable[..., Any], rpc: metrics.Rpc) -> Callable[..., Any]:
    async def requests(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in iterator:
            rpc.received.inc()
            yield request

    def call(request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return inner(requests(request_iterator), context)

    return call


def _unary_out(inner: Callable[..., Awaitable[Any]], rpc: metrics.Rpc) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = await inner(request, context)
        rpc.sent.inc()
        return response

    return call


def _stream_out(inner: Callable[..., AsyncIterator[Any]], rpc: metrics.Rpc) -> Callable[..., AsyncIterator[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for response in inner(request, context):
            rpc.sent.inc()
            yield response

    return call


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Put it outermost but for tracing: calls denied by authentication are counted too."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED
        rpc = metrics.rpc(_rpc_type(handler), handler_call_details.method)
        if rpc is None:
            return handler

        unary_in, unary_out = not handler.request_streaming, not handler.response_streaming

        @contextlib.asynccontextmanager
        async def measured(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            rpc.started.inc()
            if unary_in:
                rpc.received.inc()
            started = time.perf_counter()
            exc: BaseException | None = None
            try:
                yield
            except BaseException as e:
                exc = e
                raise
            finally:
                status = _status(context, exc)
                if unary_out and status is grpc.StatusCode.OK:
                    rpc.sent.inc()
                rpc.handled(code_label(status), time.perf_counter() - started)

        # Unary calls are counted above; streams message by message, in one more wrapping layer.
        return wrap(handler if unary_in and unary_out else _counting(handler, rpc), measured)
