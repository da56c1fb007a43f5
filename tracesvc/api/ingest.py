"""IngestService: seven unary batch methods and the bidirectional stream, all through one Ingestor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from tracesvc.api import auth, convert
from tracesvc.api.errors import abort, status_proto
from tracesvc.api.verify import RegionOf, verdict_to_proto
from tracesvc.domain import hygiene
from tracesvc.domain.events import EventKind, Violation
from tracesvc.service.ingest import Ack, AckKind, Ingestor
from tracesvc.v1 import ack_pb2, events_pb2, ingest_pb2, ingest_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

MAX_BATCH = 1000  # events per unary call
STREAM_GROUP = 200  # events committed together on the stream, at most
STREAM_WINDOW = 4 * STREAM_GROUP  # events read ahead of their acks

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


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ingestor: Ingestor, hmac_key: bytes) -> None:
        self._ingestor = ingestor
        self._key = hmac_key

    async def _record(
        self, context: Context, field: str, kind: EventKind, messages: Sequence[Any]
    ) -> list[ack_pb2.EventAck]:
        if len(messages) > MAX_BATCH:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch of {len(messages)} {field} is too large",
                [Violation(field, f"at most {MAX_BATCH} events per call; split the batch")],
            )
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            await abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the batch was stored")
        drafts = [convert.event_from_proto(kind, m, self._key) for m in messages]
        acks = await self._ingestor.ingest(drafts, auth.current())
        return [ack_to_proto(i, a, self._ingestor.region_of) for i, a in enumerate(acks)]

    async def RecordReceipt(
        self, request: ingest_pb2.RecordReceiptRequest, context: Context
    ) -> ingest_pb2.RecordReceiptResponse:
        acks = await self._record(context, "receipts", EventKind.RECEIPT, request.receipts)
        return ingest_pb2.RecordReceiptResponse(acks=acks)

    async def RecordShipment(
        self, request: ingest_pb2.RecordShipmentRequest, context: Context
    ) -> ingest_pb2.RecordShipmentResponse:
        acks = await self._record(context, "shipments", EventKind.SHIPMENT, request.shipments)
        return ingest_pb2.RecordShipmentResponse(acks=acks)

    async def RecordTransfer(
        self, request: ingest_pb2.RecordTransferRequest, context: Context
    ) -> ingest_pb2.RecordTransferResponse:
        acks = await self._record(context, "transfers", EventKind.TRANSFER, request.transfers)
        return ingest_pb2.RecordTransferResponse(acks=acks)

    async def RecordPurchaseReturn(
        self, request: ingest_pb2.RecordPurchaseReturnRequest, context: Context
    ) -> ingest_pb2.RecordPurchaseReturnResponse:
        acks = await self._record(context, "purchase_returns", EventKind.PURCHASE_RETURN, request.purchase_returns)
        return ingest_pb2.RecordPurchaseReturnResponse(acks=acks)

    async def RecordOpeningStock(
        self, request: ingest_pb2.RecordOpeningStockRequest, context: Context
    ) -> ingest_pb2.RecordOpeningStockResponse:
        acks = await self._record(context, "opening_stocks", EventKind.OPENING_STOCK, request.opening_stocks)
        return ingest_pb2.RecordOpeningStockResponse(acks=acks)

    async def RecordSale(
        self, request: ingest_pb2.RecordSaleRequest, context: Context
    ) -> ingest_pb2.RecordSaleResponse:
        acks = await self._record(context, "sales", EventKind.SALE, request.sales)
        return ingest_pb2.RecordSaleResponse(acks=acks)

    async def RecordSaleReturn(
        self, request: ingest_pb2.RecordSaleReturnRequest, context: Context
    ) -> ingest_pb2.RecordSaleReturnResponse:
        acks = await self._record(context, "sale_returns", EventKind.SALE_RETURN, request.sale_returns)
        return ingest_pb2.RecordSaleReturnResponse(acks=acks)

    async def StreamEvents(
        self, request_iterator: AsyncIterator[ingest_pb2.StreamEventsRequest], context: Context
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        """Read ahead while the previous group commits; ack every event, in order.

        Events waiting in the window are grouped into one transaction, so a client
        that keeps many in flight gets batch throughput and one that waits for each
        ack gets per-event latency.
        """
        window: asyncio.Queue[events_pb2.Event | None] = asyncio.Queue(maxsize=STREAM_WINDOW)  # None: the end

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await window.put(request.event)
            finally:
                await window.put(None)

        reader = asyncio.create_task(read())
        index = 0
        try:
            finished = False
            while not finished:
                first = await window.get()
                if first is None:
                    break
                group = [first]
                while len(group) < STREAM_GROUP and not window.empty():
                    nxt = window.get_nowait()
                    if nxt is None:
                        finished = True
                        break
                    group.append(nxt)
                for ack in await self._ingest_stream_group(group, index):
                    yield ingest_pb2.StreamEventsResponse(ack=ack)
                index += len(group)
            await reader  # surface a broken request stream as the call's error
        finally:
            reader.cancel()

    async def _ingest_stream_group(self, group: list[events_pb2.Event], first_index: int) -> list[ack_pb2.EventAck]:
        drafts, positions = [], []
        out: dict[int, ack_pb2.EventAck] = {}
        for n, event in enumerate(group):
            which = event.WhichOneof("kind")
            if which is None:
                out[n] = ack_to_proto(first_index + n, _EMPTY_EVENT)
                continue
            drafts.append(convert.event_from_proto(convert.ONEOF_KIND[which], getattr(event, which), self._key))
            positions.append(n)
        for n, ack in zip(positions, await self._ingestor.ingest(drafts, auth.current()), strict=True):
            out[n] = ack_to_proto(first_index + n, ack, self._ingestor.region_of)
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
