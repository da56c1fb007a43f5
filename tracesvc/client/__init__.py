"""Client helpers over a real gRPC channel: used by the CLI, the demo and the tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable

import grpc

from tracesvc.v1 import (
    ack_pb2,
    enforcement_pb2,
    enforcement_pb2_grpc,
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying an API key (pass as `metadata=` to any stub call)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def channel(target: str) -> grpc.aio.Channel:
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    return grpc.aio.insecure_channel(target, options=options)


async def stream_events(
    ch: grpc.aio.Channel,
    events: Iterable[events_pb2.Event] | AsyncIterator[events_pb2.Event],
    token: str | None = None,
) -> list[ack_pb2.EventAck]:
    """Send events over StreamEvents and return every ack, in order."""
    stub = ingest_pb2_grpc.IngestServiceStub(ch)

    async def requests() -> AsyncIterator[ingest_pb2.StreamEventsRequest]:
        if isinstance(events, AsyncIterator):
            async for ev in events:
                yield ingest_pb2.StreamEventsRequest(event=ev)
        else:
            for ev in events:
                yield ingest_pb2.StreamEventsRequest(event=ev)

    return [resp.ack async for resp in stub.StreamEvents(requests(), metadata=bearer(token))]


async def upsert_registry(
    ch: grpc.aio.Channel, records: Iterable[registry_pb2.RegistryRecord], chunk: int = 1000, token: str | None = None
) -> list[ack_pb2.ItemResult]:
    stub = registry_pb2_grpc.RegistryServiceStub(ch)
    records = list(records)
    parties = [r.party for r in records if r.WhichOneof("record") == "party"]
    products = [r.product for r in records if r.WhichOneof("record") == "product"]
    results: list[ack_pb2.ItemResult] = []
    for i in range(0, len(parties), chunk):
        results += (
            await stub.UpsertParties(
                registry_pb2.UpsertPartiesRequest(parties=parties[i : i + chunk]), metadata=bearer(token)
            )
        ).results
    for i in range(0, len(products), chunk):
        results += (
            await stub.UpsertProducts(
                registry_pb2.UpsertProductsRequest(products=products[i : i + chunk]), metadata=bearer(token)
            )
        ).results
    return results


def count_statuses(acks: Iterable[ack_pb2.EventAck | ack_pb2.ItemResult]) -> Counter:
    return Counter(ack_pb2.AckStatus.Name(a.status).removeprefix("ACK_STATUS_") for a in acks)


async def all_flags(ch: grpc.aio.Channel, token: str | None = None) -> list[enforcement_pb2.Flag]:
    """Every standing flag, page by page."""
    stub = enforcement_pb2_grpc.EnforcementServiceStub(ch)
    flags, page_token = [], ""
    while True:
        page = await stub.ListFlags(
            enforcement_pb2.ListFlagsRequest(page_size=1000, page_token=page_token), metadata=bearer(token)
        )
        flags += page.flags
        page_token = page.next_page_token
        if not page_token:
            return flags
