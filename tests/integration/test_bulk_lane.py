"""The bulk lane (issue 13): streams and large batches are ingested by worker processes. Same acks
as the inline path, registry writes seen at once, and a worker that dies loses nothing acked."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace

from tests import builders as b
from tests.conftest import start_service
from tracesvc import client
from tracesvc.v1 import ack_pb2, registry_pb2
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing

STORED, DUPLICATE, REJECTED = (
    ack_pb2.ACK_STATUS_STORED,
    ack_pb2.ACK_STATUS_DUPLICATE,
    ack_pb2.ACK_STATUS_REJECTED,
)


def mixed_stream() -> list[ev.Event]:
    """Receipts, a sale of a received box, a sale of a box never received, and a bad event."""
    return [
        ev.Event(receipt=b.receipt("r1", [b.code(b.STATIN, n) for n in range(60)])),
        ev.Event(sale=b.sale("s1", [(b.code(b.STATIN, 1), None)])),
        ev.Event(sale=b.sale("s2", [(b.code(b.STATIN, 999), None)])),
        ev.Event(receipt=b.receipt("r-bad", ["not-a-code"])),
        ev.Event(),
    ]


def comparable(acks: list[ack_pb2.EventAck]) -> list[tuple]:
    return [
        (a.index, a.event_id, a.status, a.error.message, tuple((v.code, v.verdict) for v in a.verdicts)) for a in acks
    ]


async def acks_of(config, lane: int) -> list[tuple]:
    async with start_service(replace(config, bulk_processes=lane)) as svc:
        await b.seed_registry(svc.registry)
        first = await client.stream_events(svc.channel, mixed_stream())
        again = await client.stream_events(svc.channel, mixed_stream())
        return comparable(first) + comparable(again)


async def test_the_lane_acks_a_stream_exactly_as_the_serving_loop_does(config, second_db_url):
    via_lane = await acks_of(config, lane=1)
    statuses = [s for _, _, s, _, _ in via_lane]
    assert statuses == [STORED, STORED, STORED, REJECTED, REJECTED] + [DUPLICATE] * 3 + [REJECTED] * 2
    assert "items[0].code" in via_lane[3][3]  # the field is named, from the worker as inline
    # The same stream on another database, inline: identical acks, verdicts included.
    other = replace(config, database_url=second_db_url)
    assert await acks_of(other, lane=0) == via_lane


async def test_a_product_registered_just_before_is_known_to_the_lane(service):
    await b.seed_registry(service.registry)
    warm = await client.stream_events(service.channel, [ev.Event(receipt=b.receipt("warm", [b.code(b.STATIN, 1)]))])
    assert warm[0].status == STORED  # the worker is up and has read the registry
    new = "8600009"
    await service.registry.UpsertProducts(
        registry_pb2.UpsertProductsRequest(
            products=[
                registry_pb2.Product(
                    prefix=new,
                    scheme=registry_pb2.CODE_SCHEME_MSFX,
                    manufacturer_id="MFR1",
                    name="Tablets, 10 a pack",
                    pack_units=10,
                    category=registry_pb2.PRODUCT_CATEGORY_DRUG,
                    insurance_code="XC10AAA009",
                )
            ]
        )
    )
    # 6 + 6 tablets of one box is more than its pack of 10: only a worker that knows the product
    # can tell (for an unknown product two part-scans are allowed).
    box = b.code(new, 1)
    sale = b.sale("over", [(box, 6), (box, 6)], insurance_code="XC10AAA009")
    acks = await client.stream_events(service.channel, [ev.Event(sale=sale)])
    assert acks[0].status == REJECTED
    assert "exceed its pack of 10" in acks[0].error.message


async def test_a_killed_worker_is_replaced_and_nothing_is_lost_or_counted_twice(service, raw_db):
    await b.seed_registry(service.registry)
    notes = [
        ev.Event(receipt=b.receipt(f"n{n}", [b.code(b.STATIN, n * 100 + k) for k in range(100)])) for n in range(30)
    ]
    assert {a.status for a in await client.stream_events(service.channel, notes[:1])} == {STORED}
    workers = multiprocessing.active_children()
    assert workers, "the stream should have started a bulk-lane worker"
    for w in workers:
        os.kill(w.pid, signal.SIGKILL)
    # The next stream meets the dead worker: its group runs again on a fresh one, unseen by the client.
    acks = await client.stream_events(service.channel, notes)
    assert [a.status for a in acks] == [DUPLICATE] + [STORED] * 29
    assert {w.pid for w in multiprocessing.active_children()}.isdisjoint({w.pid for w in workers})
    assert await raw_db.fetchval("SELECT count(*) FROM events") == 30
    assert await raw_db.fetchval("SELECT count(*) FROM event_codes") == 3000


async def test_a_small_unary_batch_is_answered_without_the_lane(service):
    await b.seed_registry(service.registry)
    resp = await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[b.sale("pos", [(b.code(b.STATIN, 5), None)])]))
    assert resp.acks[0].status == STORED
    assert multiprocessing.active_children() == []  # a POS sale never waits for a worker to start


async def test_a_large_nhsa_document_is_ingested_by_the_lane_a_small_one_inline(config, raw_db):
    import httpx  # noqa: PLC0415

    from tests.unit.nhsa_samples import envelope, purchase_row  # noqa: PLC0415

    async with start_service(replace(config, http_listen="127.0.0.1:0")) as svc:
        await b.seed_registry(svc.registry)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.running.http_port}") as http:
            small = envelope("3503", {"purcinfo": [purchase_row("PO-small")]})
            assert (await http.post("/nhsa/v1/3503", json=small)).json()["output"]["counts"] == {"STORED": 1}
            assert multiprocessing.active_children() == []  # one box: answered on the serving loop
            boxes = [{"drug_trac_codg": b.code(b.STATIN, 5_000 + n)} for n in range(80)]
            large = envelope("3503", {"purcinfo": [purchase_row("PO-large", boxes)]})
            body = (await http.post("/nhsa/v1/3503", json=large)).json()
            assert body["infcode"] == 0 and body["output"]["counts"] == {"STORED": 1}, body
            assert multiprocessing.active_children(), "80 boxes should have gone to the bulk lane"
            again = (await http.post("/nhsa/v1/3503", json=large)).json()
            assert again["output"]["counts"] == {"DUPLICATE": 1}
    assert await raw_db.fetchval("SELECT count(*) FROM event_codes") == 81


async def test_the_lane_and_its_local_backends_run_niced(service, raw_db):
    await b.seed_registry(service.registry)
    note = ev.Event(receipt=b.receipt("nice", [b.code(b.STATIN, 7_000 + n) for n in range(60)]))
    assert (await client.stream_events(service.channel, [note]))[0].status == STORED
    workers = multiprocessing.active_children()
    assert workers and all(os.getpriority(os.PRIO_PROCESS, w.pid) >= 10 for w in workers)
    backends = [
        r["pid"]
        for r in await raw_db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ]
    niceness = {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in backends}
    assert any(n >= 10 for n in niceness.values()), niceness  # the lane's connection
    assert any(n == 0 for n in niceness.values()), niceness  # the serving process's pool, untouched
