"""The service as a process sees it: restarts, shutdown, health, reflection, concurrency, privacy."""

from __future__ import annotations

import asyncio
import io
import json

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests import builders as b
from tests.conftest import start_service
from tracesvc.observability import logs
from tracesvc.v1 import ack_pb2
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing

STORED, DUPLICATE = ack_pb2.ACK_STATUS_STORED, ack_pb2.ACK_STATUS_DUPLICATE


async def test_a_restart_between_two_batches_loses_nothing(config, raw_db):
    first = [b.receipt(f"r{n}", [b.code(b.STATIN, n)]) for n in range(50)]
    second = [b.sale(f"s{n}", [(b.code(b.STATIN, n), None)]) for n in range(50)]
    async with start_service(config) as svc:
        await b.seed_registry(svc.registry)
        resp = await svc.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=first))
        assert {a.status for a in resp.acks} == {STORED}
    async with start_service(config) as svc:
        resp = await svc.ingest.RecordSale(ing.RecordSaleRequest(sales=second))
        assert {a.status for a in resp.acks} == {STORED}
        # what was acknowledged before the restart is still there: a retry is a duplicate
        resp = await svc.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=first))
        assert {a.status for a in resp.acks} == {DUPLICATE}
    assert await raw_db.fetchval("SELECT count(*) FROM events") == 100
    assert await raw_db.fetchval("SELECT count(*) FROM event_codes") == 100


async def test_shutdown_drains_in_flight_calls_and_then_refuses(config, raw_db):
    sales = [b.sale(f"s{n}", [(b.code(b.STATIN, n), None)]) for n in range(1000)]
    async with start_service(config) as svc:
        await b.seed_registry(svc.registry)
        call = asyncio.ensure_future(svc.ingest.RecordSale(ing.RecordSaleRequest(sales=sales)))
        await asyncio.sleep(0.05)  # the call is in flight
        await svc.running.health.enter_graceful_shutdown()
        await svc.running.server.stop(grace=10)
        resp = await call  # answered, not cut off
        assert {a.status for a in resp.acks} == {STORED}
        try:
            await svc.ingest.RecordSale(ing.RecordSaleRequest(sales=sales[:1]), timeout=2)
            raise AssertionError("a stopped server accepted a call")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert await raw_db.fetchval("SELECT count(*) FROM events") == 1000


async def test_concurrent_writers_of_the_same_events_store_each_once(service, raw_db):
    await b.seed_registry(service.registry)
    batch = ing.RecordReceiptRequest(receipts=[b.receipt(f"r{n}", [b.code(b.STATIN, n)]) for n in range(300)])
    results = await asyncio.gather(*(service.ingest.RecordReceipt(batch) for _ in range(6)))
    for n in range(300):
        statuses = sorted(r.acks[n].status for r in results)
        assert statuses == [STORED] + [DUPLICATE] * 5
    assert await raw_db.fetchval("SELECT count(*) FROM event_codes") == 300


async def test_health_and_reflection_are_served(service):
    stub = health_pb2_grpc.HealthStub(service.channel)
    for name in ("", "tracesvc.v1.IngestService", "tracesvc.v1.RegistryService"):
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    responses = [
        r async for r in refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    ]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"tracesvc.v1.IngestService", "tracesvc.v1.RegistryService", "grpc.health.v1.Health"} <= names


async def test_no_clear_insured_number_in_the_database_or_the_logs(service, raw_db):
    buyer = "110101197707077777"
    log = io.StringIO()
    logs.configure("debug", "json", stream=log)
    try:
        await b.seed_registry(service.registry)
        c1 = b.code(b.STATIN, 1)
        sale = b.sale("s1", [(c1, None)], buyer=buyer)
        await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[sale, sale]))
        bad = b.sale("s2", [("garbage", None)], buyer=buyer)
        await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[bad]))
        from tracesvc import client

        await client.stream_events(
            service.channel, [ev.Event(sale=b.sale("s3", [(b.code(b.STATIN, 2), None)], buyer=buyer))]
        )
    finally:
        logs.configure("warning", "json")
    text = log.getvalue()
    assert '"request_id"' in text and '"event": "rpc"' in text  # the log did record the calls
    assert buyer not in text
    dump = await raw_db.fetch(
        "SELECT row_to_json(e)::text AS j FROM events e UNION ALL SELECT row_to_json(c)::text FROM event_codes c"
    )
    blob = "\n".join(r["j"] for r in dump)
    assert buyer not in blob
    tokens = {json.loads(r["j"]).get("buyer_token") for r in dump} - {None}
    assert len(tokens) == 1 and len(tokens.pop()) == 64  # the same person, one keyed token
