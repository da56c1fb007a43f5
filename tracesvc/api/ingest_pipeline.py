"""Ingestion in wire terms, shared by the serving process and the bulk lane's workers: event
messages in, one EventAck per event out, through the Ingestor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from tracesvc.api import convert
from tracesvc.api.errors import status_proto
from tracesvc.api.verify import RegionOf, verdict_to_proto
from tracesvc.domain import hygiene
from tracesvc.domain.events import EventKind, Violation
from tracesvc.domain.slices import Slicer
from tracesvc.service.access import Principal
from tracesvc.service.ingest import Ack, AckKind, Ingestor
from tracesvc.v1 import ack_pb2, events_pb2

# The message class of each event kind (Receipt, Sale…): what a unary batch carries.
MESSAGE_OF_KIND: dict[EventKind, Any] = {
    kind: type(getattr(events_pb2.Event(), oneof)) for oneof, kind in convert.ONEOF_KIND.items()
}


_ACK_STATUS = {
    AckKind.STORED: ack_pb2.ACK_STATUS_STORED,
    AckKind.DUPLICATE: ack_pb2.ACK_STATUS_DUPLICATE,
    AckKind.REJECTED: ack_pb2.ACK_STATUS_REJECTED,
    AckKind.DENIED: ack_pb2.ACK_STATUS_REJECTED,
    AckKind.CONFLICT: ack_pb2.ACK_STATUS_CONFLICT,
}


def _no_region(party_id: str | None) -> str:
    return ""


def ack_to_proto(index: int, ack: Ack, region_of: RegionOf = _no_region) -> ack_pb2.EventAck:
    out = ack_pb2.EventAck(
        index=index,
        event_id=ack.event_id[: hygiene.ID.max_len],  # an over-long id is rejected; echo its prefix only
        status=_ACK_STATUS[ack.kind],
        verdicts=[verdict_to_proto(c, region_of) for c in ack.checks],
    )
    if ack.kind is AckKind.REJECTED:
        out.error.CopyFrom(status_proto(grpc.StatusCode.INVALID_ARGUMENT, ack.message, ack.violations))
    elif ack.kind is AckKind.DENIED:
        out.error.CopyFrom(status_proto(grpc.StatusCode.PERMISSION_DENIED, ack.message))
    elif ack.kind is AckKind.CONFLICT:
        out.error.CopyFrom(
            status_proto(
                grpc.StatusCode.ALREADY_EXISTS,
                f"event {ack.event_id} conflicts: {ack.message}",
                [Violation("header.event_id", ack.message)],
            )
        )
    return out


async def acks_of_batch(
    ingestor: Ingestor, hmac_key: bytes, kind: EventKind, messages: Sequence[Any], principal: Principal
) -> list[ack_pb2.EventAck]:
    """A unary call's events, all of one kind."""
    drafts = []
    slicer = Slicer()
    for m in messages:
        await slicer.tick()
        drafts.append(convert.event_from_proto(kind, m, hmac_key))
    acks = await ingestor.ingest(drafts, principal)
    return [ack_to_proto(i, a, ingestor.region_of) for i, a in enumerate(acks)]


async def acks_of_group(
    ingestor: Ingestor,
    hmac_key: bytes,
    group: Sequence[events_pb2.Event],
    first_index: int,
    principal: Principal,
) -> list[ack_pb2.EventAck]:
    """A stream's group of events (each names its kind), acked from `first_index` on."""
    drafts, positions = [], []
    out: dict[int, ack_pb2.EventAck] = {}
    slicer = Slicer()
    for n, event in enumerate(group):
        await slicer.tick()  # converting a group of delivery notes is milliseconds of CPU
        which = event.WhichOneof("kind")
        if which is None:
            out[n] = ack_to_proto(first_index + n, _EMPTY_EVENT)
            continue
        drafts.append(convert.event_from_proto(convert.ONEOF_KIND[which], getattr(event, which), hmac_key))
        positions.append(n)
    for n, ack in zip(positions, await ingestor.ingest(drafts, principal), strict=True):
        await slicer.tick()
        out[n] = ack_to_proto(first_index + n, ack, ingestor.region_of)
    return [out[n] for n in range(len(group))]


_EMPTY_EVENT = Ack(
    "",
    AckKind.REJECTED,
    "empty event",
    (
        Violation(
            "event",
            "one of receipt, shipment, transfer, purchase_return, opening_stock, sale or sale_return is required",
        ),
    ),
)
