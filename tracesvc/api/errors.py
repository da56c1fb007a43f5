"""gRPC error statuses with google.rpc.BadRequest field violations (grpcio-status), and the one
place where a use case's refusal (`tracesvc.service.errors`) becomes a status code."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from tracesvc.api.interceptors import Continuation, wrap
from tracesvc.domain import hygiene
from tracesvc.domain.events import Violation
from tracesvc.service import errors

Context = grpc.aio.ServicerContext[Any, Any]
_MAX_DETAILS = 20

_CODE_OF: dict[type[errors.ServiceError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_proto(code: grpc.StatusCode, message: str, violations: Iterable[Violation] = ()) -> status_pb2.Status:
    """A google.rpc.Status, with a BadRequest detail when there are field violations.

    Message and details are bounded (they travel in trailers, which gRPC limits to 8 kB): a
    message of at most 512 characters, at most 20 violations of at most 200 characters each.
    """
    status = status_pb2.Status(code=code.value[0], message=hygiene.clip_message(message))
    fvs = [
        error_details_pb2.BadRequest.FieldViolation(
            field=hygiene.clip_message(v.field, 120), description=hygiene.clip_message(v.description, 200)
        )
        for v in list(violations)[:_MAX_DETAILS]
    ]
    if fvs:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=fvs))
        status.details.append(detail)
    return status


async def abort(
    context: Context, code: grpc.StatusCode, message: str, violations: Iterable[Violation] = ()
) -> NoReturn:
    """End the call with a rich status."""
    status = rpc_status.to_status(status_proto(code, message, violations))
    await context.abort_with_status(status)  # type: ignore[attr-defined]  # missing from grpc-stubs
    raise AssertionError("unreachable: abort_with_status raises")  # for the type checker


class ServiceErrorInterceptor(grpc.aio.ServerInterceptor):
    """Ends a call whose use case refused it with the matching status and field violations."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # grpc's way of saying "unknown method"

        @contextlib.asynccontextmanager
        async def mapped(context: Context) -> AsyncIterator[None]:
            try:
                yield
            except errors.ServiceError as exc:
                await abort(context, _CODE_OF[type(exc)], exc.message, exc.violations)

        return wrap(handler, mapped)
