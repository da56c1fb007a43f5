"""Input hygiene on the gRPC edge (DESIGN §8): every string and timestamp of every request is
checked before a servicer reads it, by walking the message's descriptor — one rule set for
every RPC, not an `if` per handler.

- strings: a length limit and no control characters, by field name (`FIELD_KINDS`; other
  fields get `hygiene.ID`); a trace code may carry GS (FNC1), notes may carry line breaks;
- timestamps: years 1–9999 and nanos 0–999,999,999, so no conversion can overflow.

Batches whose items are acknowledged one by one (the IngestService methods, UpsertParties,
UpsertProducts) are not refused whole: their servicers check each item with `violations`
and reject only the bad ones, so valid items in the same call are stored. Numbers are
range-checked by the domain where their meaning is known (`tracesvc.domain.events`,
`tracesvc.domain.registry`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tracesvc.api.interceptors import Continuation
from tracesvc.domain import hygiene
from tracesvc.domain.events import Violation
from tracesvc.service.errors import InvalidArgument

FIELD_KINDS: dict[str, hygiene.TextKind] = {
    "code": hygiene.CODE,
    "codes": hygiene.CODE,
    "name": hygiene.NAME,
    "generic_name": hygiene.NAME,
    "spec": hygiene.NAME,
    "item_name": hygiene.NAME,
    "title": hygiene.NAME,
    "description": hygiene.NOTE,
    "note": hygiene.NOTE,
    "reason": hygiene.NOTE,
    "scope": hygiene.NOTE,
    "page_token": hygiene.TOKEN,
    "region": hygiene.SHORT,
    "buyer_id": hygiene.SHORT,
    "buyer_token": hygiene.SHORT,
    "insurance_code": hygiene.SHORT,
    "batch": hygiene.SHORT,
    "expiry": hygiene.SHORT,
    "rule": hygiene.SHORT,
    "kind": hygiene.SHORT,
}
MAX_VIOLATIONS = 20  # per answer: enough to fix a request, small enough for a status trailer

# Methods whose repeated items are judged one by one by their servicers (see the docstring).
ITEM_BY_ITEM_PREFIXES = (
    "/tracesvc.v1.IngestService/",
    "/tracesvc.v1.RegistryService/UpsertParties",
    "/tracesvc.v1.RegistryService/UpsertProducts",
)
_TIMESTAMP = Timestamp.DESCRIPTOR.full_name


def violations(message: Message, path: str = "") -> list[Violation]:
    """Every hygiene violation in a message (at most MAX_VIOLATIONS), with field paths."""
    out: list[Violation] = []
    _walk(message, path, out)
    return out[:MAX_VIOLATIONS]


def _walk(message: Message, path: str, out: list[Violation]) -> None:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        problem = hygiene.timestamp_problem(message.seconds, message.nanos)  # type: ignore[attr-defined]
        if problem is not None:
            out.append(Violation(path or "timestamp", problem))
        return
    for field, value in message.ListFields():
        if len(out) >= MAX_VIOLATIONS:
            return
        name = f"{path}.{field.name}" if path else field.name
        repeated = field.is_repeated
        values = list(value) if repeated else [value]
        for n, v in enumerate(values):
            where = f"{name}[{n}]" if repeated else name
            if field.type == field.TYPE_STRING:
                problem = hygiene.text_problem(v, FIELD_KINDS.get(field.name, hygiene.ID))
                if problem is not None:
                    out.append(Violation(where, problem))
            elif field.type == field.TYPE_MESSAGE:
                _walk(v, where, out)  # (no map fields in this API)


def check(message: Message) -> None:
    """Refuse the whole request (INVALID_ARGUMENT with field violations) when any field is unfit."""
    found = violations(message)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidArgument(f"invalid request: {first.field}: {first.description}{more}", found)


class HygieneInterceptor(grpc.aio.ServerInterceptor):
    """Checks each unary request before its handler runs (innermost: after authentication, and
    inside ServiceErrorInterceptor, which turns the refusal into INVALID_ARGUMENT)."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.request_streaming or method.startswith(ITEM_BY_ITEM_PREFIXES):
            return handler
        if not method.startswith("/tracesvc."):
            return handler  # health and reflection: grpc's own code
        return _checked(handler)


def _checked(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    codec = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary(request: Any, context: Any) -> Any:
            check(request)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, **codec)
    inner_stream: Any = handler.unary_stream

    async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
        check(request)
        async for response in inner_stream(request, context):
            yield response

    return grpc.unary_stream_rpc_method_handler(streaming, **codec)
