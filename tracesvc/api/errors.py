"""gRPC error statuses with google.rpc.BadRequest field violations (grpcio-status)."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from tracesvc.domain.events import Violation


def status_proto(code: grpc.StatusCode, message: str, violations: Iterable[Violation] = ()) -> status_pb2.Status:
    """A google.rpc.Status, with a BadRequest detail when there are field violations."""
    status = status_pb2.Status(code=code.value[0], message=message)
    fvs = [error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in violations]
    if fvs:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=fvs))
        status.details.append(detail)
    return status


async def abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, violations: Iterable[Violation] = ()
) -> None:
    """End the call with a rich status (never returns)."""
    await context.abort_with_status(rpc_status.to_status(status_proto(code, message, violations)))
