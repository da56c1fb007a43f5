"""Runs over a real database: stories end to end through gRPC ingestion, idempotent re-runs,
reviewed flags kept, resolution by late evidence, incremental == full."""

from __future__ import annotations

from reconciler.jobs import Mode
from tests import builders as b
from tests.reconcile_helpers import flag_kinds, run
from tracesvc import client
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing


async def send(service, *events):
    acks = await client.stream_events(service.channel, [ev.Event(**{k: m}) for k, m in events])
    assert all(a.status in (1, 2) for a in acks), [a.error.message for a in acks]


def whs_supply(code: str, minutes: float = -600):
    """The wholesaler takes the code in from the maker, so later receipts from it are legal."""
    return ("receipt", b.receipt(f"whs-{code}", [code], party="WHS1", supplier="MFR1", minutes=minutes))


async def test_a_return_drug_story_flags_d_l_r_and_records_the_chain(service, raw_db):
    await b.seed_registry(service.registry)
    c = b.code(b.STATIN, 1)
    await send(
        service,
        whs_supply(c),
        ("receipt", b.receipt("r1", [c], party="P1", supplier="WHS1", minutes=0)),
        ("sale", b.sale("s1", [(c, None)], party="P1", minutes=60, buyer="110101190001010001")),
        ("receipt", b.receipt("back", [c], party="P2", supplier="WHS1", minutes=3000)),
        ("sale", b.sale("s2", [(c, None)], party="P2", minutes=3100, buyer="110101190001010002")),
    )
    info = await run(service.engine)
    assert info.status == "DONE" and info.codes_done == 1 and info.sales_done == 2
    # WHS1 did hold the code once (DESIGN §5 L asks no more), so the resale has a legal source.
    assert await flag_kinds(raw_db) == [("D", "CROSS_PARTY", "s2"), ("R", "REENTRY", "back")]
    chains = await raw_db.fetch("SELECT * FROM return_chains WHERE active ORDER BY reentry_party NULLS LAST")
    assert [(c["reentry_party"], c["reentry_supplier"], list(c["resale_parties"])) for c in chains] == [
        ("P2", "WHS1", ["P2"]),
        (None, None, ["P2"]),
    ]
    assert "110101190001010001" not in str(chains[0]["originals"])  # the buyer appears as a token only
    assert len(chains[0]["buyer_tokens"][0]) == 64


async def test_rerunning_changes_nothing_and_a_reviewed_flag_stays_reviewed(service, raw_db):
    await b.seed_registry(service.registry)
    c = b.code(b.STATIN, 2)
    await send(service, ("sale", b.sale("s1", [(c, None)], minutes=60)))
    await run(service.engine)
    before = await raw_db.fetch("SELECT * FROM flags ORDER BY flag_id")
    assert [(r["rule"], r["kind"]) for r in before] == [("L", "NEVER_RECEIVED")]
    await raw_db.execute("UPDATE flags SET status = 'DISMISSED', review_note = 'known stock'")
    second = await run(service.engine)
    assert second.flags_new == 0 and second.flags_resolved == 0
    after = await raw_db.fetch("SELECT * FROM flags ORDER BY flag_id")
    assert [(r["flag_id"], r["status"], r["review_note"]) for r in after] == [
        (before[0]["flag_id"], "DISMISSED", "known stock")
    ]
    # even when the evidence later goes away, a reviewed flag keeps its review
    await send(service, whs_supply(c), ("receipt", b.receipt("late", [c], minutes=50)))
    await run(service.engine, Mode.INCREMENTAL)
    assert (await raw_db.fetchrow("SELECT status FROM flags"))["status"] == "DISMISSED"


async def test_a_late_receipt_resolves_the_flag_with_its_reason(service, raw_db):
    await b.seed_registry(service.registry)
    c = b.code(b.STATIN, 3)
    await send(service, whs_supply(c), ("sale", b.sale("s1", [(c, None)], minutes=60)))
    await run(service.engine)
    assert await flag_kinds(raw_db) == [("L", "NEVER_RECEIVED", "s1")] or await flag_kinds(raw_db) == [
        ("L", "RECEIVED_ELSEWHERE", "s1")
    ]
    await send(service, ("receipt", b.receipt("r-late", [c], minutes=30)))  # offline upload, dated before the sale
    info = await run(service.engine, Mode.INCREMENTAL)
    assert info.codes_done == 1 and info.flags_resolved == 1
    assert await flag_kinds(raw_db) == []
    row = await raw_db.fetchrow("SELECT status, resolved_reason FROM flags")
    assert row["status"] == "RESOLVED" and "no longer holds" in row["resolved_reason"]


async def test_incremental_runs_touch_only_new_codes(service, raw_db):
    await b.seed_registry(service.registry)
    await send(service, *[("sale", b.sale(f"s{n}", [(b.code(b.STATIN, 100 + n), None)])) for n in range(30)])
    first = await run(service.engine, Mode.INCREMENTAL)
    assert first.codes_done == 30
    await send(service, ("sale", b.sale("one-more", [(b.code(b.STATIN, 500), None)])))
    second = await run(service.engine, Mode.INCREMENTAL)
    assert (second.codes_done, second.sales_done) == (1, 1)
    third = await run(service.engine, Mode.INCREMENTAL)
    assert (third.codes_done, third.sales_done) == (0, 0)


async def test_substitution_flags_through_the_service(service, raw_db):
    await b.seed_registry(service.registry)
    c = b.code(b.SYRUP, 1)  # a cheap drug billed as atorvastatin
    sale = b.sale("s1", [(c, None), ("6901234567892", None)], quantity=2)
    await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[sale]))
    await run(service.engine)
    s_flags = [k for k in await flag_kinds(raw_db) if k[0] == "S"]
    assert s_flags == [("S", "NON_DRUG", "s1"), ("S", "PRODUCT_MISMATCH", "s1"), ("S", "UNSCANNED_UNITS", "s1")]
