"""IngestService over a real channel and database: acks, idempotency, item-level errors."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from grpc_status import rpc_status

from tests import builders as b
from tests.test_registry_api import violations_of
from tracesvc import client
from tracesvc.v1 import ack_pb2
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing

STORED, DUPLICATE = ack_pb2.ACK_STATUS_STORED, ack_pb2.ACK_STATUS_DUPLICATE
REJECTED, CONFLICT = ack_pb2.ACK_STATUS_REJECTED, ack_pb2.ACK_STATUS_CONFLICT


@pytest.fixture
async def seeded(service):
    await b.seed_registry(service.registry)
    return service


async def count(raw_db, table: str) -> int:
    return await raw_db.fetchval(f"SELECT count(*) FROM {table}")


async def test_every_record_method_stores_its_kind(seeded, raw_db):
    s = seeded.ingest
    c = [b.code(b.STATIN, n) for n in range(1, 6)]
    items = b.items(c[0], c[1])
    calls = [
        (
            s.RecordShipment,
            ing.RecordShipmentRequest(
                shipments=[ev.Shipment(header=b.header("sh1", "WHS1", -60), receiver_id="DC1", items=items)]
            ),
        ),
        (s.RecordReceipt, ing.RecordReceiptRequest(receipts=[b.receipt("r1", c[:2], party="DC1")])),
        (
            s.RecordTransfer,
            ing.RecordTransferRequest(
                transfers=[ev.Transfer(header=b.header("t1", "DC1", 10), to_party_id="P1", items=items)]
            ),
        ),
        (
            s.RecordOpeningStock,
            ing.RecordOpeningStockRequest(
                opening_stocks=[
                    ev.OpeningStock(
                        header=b.header("o1", "P2", 0), items=[ev.TraceItem(code=c[2], source_document="INV-2024-77")]
                    )
                ]
            ),
        ),
        (s.RecordSale, ing.RecordSaleRequest(sales=[b.sale("s1", [(c[0], None)])])),
        (
            s.RecordSaleReturn,
            ing.RecordSaleReturnRequest(
                sale_returns=[
                    ev.SaleReturn(header=b.header("sr1", "P1", 90), sale_id="S-s1", codes=[ev.ReturnedCode(code=c[0])])
                ]
            ),
        ),
        (
            s.RecordPurchaseReturn,
            ing.RecordPurchaseReturnRequest(
                purchase_returns=[
                    ev.PurchaseReturn(header=b.header("pr1", "P1", 120), supplier_id="DC1", items=b.items(c[1]))
                ]
            ),
        ),
    ]
    for method, request in calls:
        resp = await method(request)
        assert [a.status for a in resp.acks] == [STORED], resp
    kinds = [r["kind"] for r in await raw_db.fetch("SELECT kind FROM events ORDER BY event_seq")]
    assert kinds == ["SHIPMENT", "RECEIPT", "TRANSFER", "OPENING_STOCK", "SALE", "SALE_RETURN", "PURCHASE_RETURN"]
    # one row per (event, code), all of one code together
    rows = await raw_db.fetch(
        "SELECT kind, party_id, units FROM event_codes WHERE code = $1 ORDER BY occurred_at", c[0]
    )
    assert [(r["kind"], r["party_id"]) for r in rows] == [
        ("SHIPMENT", "WHS1"),
        ("RECEIPT", "DC1"),
        ("TRANSFER", "DC1"),
        ("SALE", "P1"),
        ("SALE_RETURN", "P1"),
    ]
    counterparty = await raw_db.fetchval("SELECT counterparty_id FROM events WHERE event_id = 't1'")
    assert counterparty == "P1"


async def test_a_retry_is_a_duplicate_and_changes_nothing(seeded, raw_db):
    request = ing.RecordReceiptRequest(receipts=[b.receipt("r1", [b.code(b.STATIN, 1), b.code(b.STATIN, 2)])])
    first = await seeded.ingest.RecordReceipt(request)
    before = (await count(raw_db, "events"), await count(raw_db, "event_codes"))
    again = await seeded.ingest.RecordReceipt(request)
    assert [a.status for a in first.acks] == [STORED]
    assert [a.status for a in again.acks] == [DUPLICATE]
    assert (await count(raw_db, "events"), await count(raw_db, "event_codes")) == before == (1, 2)


async def test_a_retry_with_the_code_in_another_form_is_still_a_duplicate(seeded):
    gs1 = b.receipt("g1", [f"(01){b.GTIN}(21)A1"])
    assert (await seeded.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[gs1]))).acks[0].status == STORED
    raw = b.receipt("g1", [f"01{b.GTIN}21A1"])
    assert (await seeded.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[raw]))).acks[0].status == DUPLICATE


async def test_reusing_an_event_id_for_other_content_is_a_conflict(seeded, raw_db):
    await seeded.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[b.receipt("r1", [b.code(b.STATIN, 1)])]))
    other = b.receipt("r1", [b.code(b.STATIN, 2)])
    ack = (await seeded.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[other]))).acks[0]
    assert ack.status == CONFLICT
    assert ack.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "header.event_id" in violations_of(ack.error)
    stored = await raw_db.fetchval("SELECT code FROM event_codes")
    assert stored == b.code(b.STATIN, 1)  # the original stands


async def test_a_sale_id_is_unique_per_party(seeded, raw_db):
    c1, c2 = b.code(b.STATIN, 1), b.code(b.STATIN, 2)
    first = b.sale("s1", [(c1, None)], sale_id="SET-1")
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[first]))
    assert resp.acks[0].status == STORED
    same_settlement = b.sale("s2", [(c2, None)], sale_id="SET-1")
    other_party = b.sale("s3", [(c2, None)], sale_id="SET-1", party="P2")
    in_batch_twice = [b.sale("s4", [(c2, None)], sale_id="SET-9"), b.sale("s5", [(c1, None)], sale_id="SET-9")]
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[same_settlement, other_party, *in_batch_twice]))
    assert [a.status for a in resp.acks] == [CONFLICT, STORED, STORED, CONFLICT]
    assert "SET-1" in resp.acks[0].error.message
    assert await count(raw_db, "events") == 3


async def test_a_mixed_batch_is_acknowledged_item_by_item(seeded, raw_db):
    good1 = b.receipt("ok1", [b.code(b.STATIN, 1)])
    malformed = b.receipt("bad-code", ["86000010000000000001X"])
    unknown_party = b.receipt("bad-party", [b.code(b.STATIN, 2)], party="GHOST")
    missing = ev.Receipt(
        header=ev.EventHeader(event_id="bad-missing", party_id="P1"), items=b.items(b.code(b.STATIN, 3))
    )
    good2 = b.receipt("ok2", [b.code(b.STATIN, 4)])
    resp = await seeded.ingest.RecordReceipt(
        ing.RecordReceiptRequest(receipts=[good1, malformed, unknown_party, missing, good2])
    )
    assert [a.status for a in resp.acks] == [STORED, REJECTED, REJECTED, REJECTED, STORED]
    assert [a.index for a in resp.acks] == [0, 1, 2, 3, 4]
    assert [a.event_id for a in resp.acks] == ["ok1", "bad-code", "bad-party", "bad-missing", "ok2"]
    assert "86000010000000000001X" in violations_of(resp.acks[1].error)["items[0].code"]
    assert "GHOST" in violations_of(resp.acks[2].error)["header.party_id"]
    assert set(violations_of(resp.acks[3].error)) == {"header.occurred_at", "supplier_id"}
    assert all(a.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] for a in resp.acks[1:4])
    assert sorted(r["event_id"] for r in await raw_db.fetch("SELECT event_id FROM events")) == ["ok1", "ok2"]


async def test_non_positive_units_and_double_scans_are_rejected_with_the_code_named(seeded):
    c1 = b.code(b.STATIN, 1)
    zero = b.sale("z", [(c1, 0)], split=True)
    negative = b.sale("n", [(c1, -3)], split=True)
    double = b.sale("d", [(c1, None), (c1, None)], quantity=2)
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[zero, negative, double]))
    assert [a.status for a in resp.acks] == [REJECTED] * 3
    assert "positive" in violations_of(resp.acks[0].error)["lines[0].scanned[0].units"]
    assert "-3" in violations_of(resp.acks[1].error)["lines[0].scanned[0].units"]
    assert c1 in violations_of(resp.acks[2].error)["lines[0].scanned[1].code"]


async def test_an_oversized_batch_fails_whole_with_field_details(seeded, raw_db):
    sales = [b.sale(f"s{n}", [(b.code(b.STATIN, n), None)]) for n in range(1001)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=sales))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1000" in violations_of(rpc_status.from_call(info.value))["sales"]
    assert await count(raw_db, "events") == 0


async def test_late_and_out_of_order_events_are_stored_by_when_they_happened(seeded, raw_db):
    c1 = b.code(b.STATIN, 1)
    # The sale arrives first (an offline POS), the receipt a day late and dated before it.
    await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[b.sale("s1", [(c1, None)], minutes=600)]))
    await seeded.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[b.receipt("r1", [c1], minutes=30)]))
    rows = await raw_db.fetch("SELECT kind FROM event_codes WHERE code = $1 ORDER BY occurred_at", c1)
    assert [r["kind"] for r in rows] == ["RECEIPT", "SALE"]
    arrival = await raw_db.fetch("SELECT kind FROM events ORDER BY received_at, event_seq")
    assert [r["kind"] for r in arrival] == ["SALE", "RECEIPT"]


async def test_stream_of_ten_thousand_events_gets_every_ack_in_order(seeded, raw_db):
    rng = random.Random(3)
    events = []
    for n in range(10_000):
        c = b.code(b.STATIN, n)
        if n % 2:
            events.append(
                ev.Event(sale=b.sale(f"s{n}", [(c, rng.randint(1, 28))], split=True, minutes=rng.uniform(0, 5000)))
            )
        else:
            events.append(ev.Event(receipt=b.receipt(f"r{n}", [c], minutes=rng.uniform(0, 5000))))
    # a few bad ones and repeats along the way
    events[1234] = ev.Event(receipt=b.receipt("r1234", ["not-a-code"]))
    events.append(events[10])
    acks = await client.stream_events(seeded.channel, events)
    assert len(acks) == len(events)
    assert [a.index for a in acks] == list(range(len(events)))
    assert [a.event_id for a in acks] == [getattr(e, e.WhichOneof("kind")).header.event_id for e in events]
    statuses = [a.status for a in acks]
    assert statuses[1234] == REJECTED and statuses[-1] == DUPLICATE
    assert statuses.count(STORED) == 9_999
    assert await count(raw_db, "events") == 9_999


async def test_an_empty_stream_event_is_rejected_not_dropped(seeded):
    good = ev.Event(receipt=b.receipt("r1", [b.code(b.STATIN, 1)]))
    acks = await client.stream_events(seeded.channel, [ev.Event(), good])
    assert [a.status for a in acks] == [REJECTED, STORED]
    assert "event" in violations_of(acks[0].error)


async def test_an_expired_deadline_stores_nothing_it_did_not_ack(seeded, raw_db):
    sales = [b.sale(f"s{n}", [(b.code(b.STATIN, n), None)]) for n in range(1000)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=sales), timeout=0.001)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.5)
    # Either the batch committed whole before the deadline hit, or not at all: a retry settles it.
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=sales))
    assert {a.status for a in resp.acks} <= {STORED, DUPLICATE}
    assert await count(raw_db, "events") == 1000
