"""IngestService: seven unary batch methods and the bidirectional stream, all through one Ingestor,
inline on this loop or, for bulk work, in the bulk lane's worker processes (tracesvc/api/bulk.py)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from tracesvc.api import auth
from tracesvc.api.routing import IngestRouter, codes_of
from tracesvc.domain.events import EventKind, Violation
from tracesvc.intake.model import DocumentError
from tracesvc.service.errors import DeadlineExceeded, InvalidArgument
from tracesvc.service.intake import IntakeService, read_document
from tracesvc.v1 import ack_pb2, events_pb2, ingest_pb2, ingest_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
_FORMATS = {ingest_pb2.DOCUMENT_FORMAT_NHSA: "nhsa", ingest_pb2.DOCUMENT_FORMAT_EPCIS: "epcis"}

MAX_BATCH = 1000  # events per unary call
# Stream budgets are in codes as well as events: a 100-box delivery note is 100× the work of a
# one-code sale. A group is what arrived while the previous group committed (it never waits to
# fill), up to both budgets; read-ahead is bounded the same way, so an ack follows its event
# within about (window + group) / throughput, a fraction of a second.
STREAM_GROUP = 200  # events committed together on the stream, at most
STREAM_GROUP_CODES = 1_000  # codes committed together, at most (one bigger event goes alone)
STREAM_WINDOW = 2 * STREAM_GROUP  # events read ahead of their acks
STREAM_WINDOW_CODES = STREAM_GROUP_CODES  # codes read ahead of their acks: the next group
STREAM_DRAIN_SECONDS = 10.0  # a failing stream reads on this long for the client's half-close
DRAIN_IDLE_SECONDS = 1.0  # … but stops as soon as the client has sent nothing for this long


class ReadAhead:
    """Events received and not yet taken into a group, bounded in events and in codes."""

    def __init__(self, max_events: int = STREAM_WINDOW, max_codes: int = STREAM_WINDOW_CODES) -> None:
        self._queue: deque[tuple[events_pb2.Event | None, int]] = deque()  # None: the end
        self._codes = 0
        self._max_events = max_events
        self._max_codes = max_codes
        self._changed = asyncio.Condition()
        self._closed = False
        self.received = 0  # messages put, dropped ones included: whether the client is still sending

    async def close(self) -> None:
        """Take no more: what is queued is dropped, and every put from now on returns at once."""
        async with self._changed:
            self._closed = True
            self._queue.clear()
            self._codes = 0
            self._changed.notify_all()

    def _has_room(self, codes: int) -> bool:
        # An event bigger than the whole window is let in alone, or it could never be.
        return not self._queue or (len(self._queue) < self._max_events and self._codes + codes <= self._max_codes)

    async def put(self, event: events_pb2.Event | None) -> None:
        self.received += 1
        codes = 0 if event is None else codes_of(event)
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or self._has_room(codes))
            if self._closed:
                return
            self._queue.append((event, codes))
            self._codes += codes
            self._changed.notify_all()

    async def take(self, max_events: int, max_codes: int) -> tuple[list[events_pb2.Event], bool]:
        """The next group (waits for its first event) and whether the stream has ended."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._queue))
            group: list[events_pb2.Event] = []
            codes = 0
            finished = False
            while self._queue:
                event, n = self._queue[0]
                if event is None:
                    finished = True
                    self._queue.popleft()
                    break
                if group and (len(group) >= max_events or codes + n > max_codes):
                    break
                self._queue.popleft()
                group.append(event)
                codes += n
                self._codes -= n
            self._changed.notify_all()
            return group, finished


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, router: IngestRouter, intake: IntakeService) -> None:
        self._router = router
        self._intake = intake

    async def ImportDocument(
        self, request: ingest_pb2.ImportDocumentRequest, context: Context
    ) -> ingest_pb2.ImportDocumentResponse:
        fmt = _FORMATS.get(request.format)
        if fmt is None:
            raise InvalidArgument("format is required", [Violation("format", "NHSA or EPCIS")])
        try:
            document = read_document(request.content)
            if fmt == "nhsa":
                report = await self._intake.nhsa(
                    document, auth.current(), infno=request.infno.strip(), party_id=request.party_id.strip()
                )
            else:
                report = await self._intake.epcis(document, auth.current(), rollback=request.rollback)
        except DocumentError as exc:
            raise InvalidArgument(str(exc), [Violation(exc.position or "content", exc.reason)]) from None
        return ingest_pb2.ImportDocumentResponse(
            results=[
                ingest_pb2.DocumentResult(
                    position=r.position,
                    rows=list(r.rows),
                    event_id=r.event_id,
                    status=r.status.value,
                    message=r.message,
                )
                for r in report.ordered()
            ],
            counts=dict(report.counts()),
        )

    async def _record(
        self, context: Context, field: str, kind: EventKind, messages: Sequence[Any]
    ) -> list[ack_pb2.EventAck]:
        if len(messages) > MAX_BATCH:
            raise InvalidArgument(
                f"batch of {len(messages)} {field} is too large",
                [Violation(field, f"at most {MAX_BATCH} events per call; split the batch")],
            )
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("deadline passed before the batch was stored")
        return await self._router.batch(kind, messages, auth.current())

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
        window = ReadAhead()

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
                group, finished = await window.take(STREAM_GROUP, STREAM_GROUP_CODES)
                if not group:
                    break
                try:
                    acks = await self._router.group(group, index, auth.current())
                except Exception:
                    await _drain(window, reader)
                    raise
                for ack in acks:
                    yield ingest_pb2.StreamEventsResponse(ack=ack)
                index += len(group)
            await reader  # surface a broken request stream as the call's error
        finally:
            reader.cancel()


async def _drain(window: ReadAhead, reader: asyncio.Task[None]) -> None:
    """Before a stream ends in an error, read what the client is still sending (and drop it) until it
    half-closes, for at most STREAM_DRAIN_SECONDS. An asyncio client whose write fails after the call has
    ended reports INTERNAL ("Failed execute_batch") in place of the status the server sent
    (grpc/grpc#36066); a client that has stopped writing sees the real one, e.g. UNAVAILABLE with its
    retry hint. Nothing dropped here was acknowledged, so the client's retry resends it. A client that
    sends nothing for DRAIN_IDLE_SECONDS is waiting for acks, not writing: it gets its status at once."""
    await window.close()
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_DRAIN_SECONDS
    seen = window.received
    while not reader.done() and loop.time() < ends:
        await asyncio.wait({reader}, timeout=min(DRAIN_IDLE_SECONDS, ends - loop.time()))
        if window.received == seen:
            break
        seen = window.received
    if reader.done() and not reader.cancelled():
        reader.exception()  # retrieved: a broken request stream is not the error this call ends with
