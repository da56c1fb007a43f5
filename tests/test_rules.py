"""Rules D, L, S, R as pure functions: each kind with a minimal story, and the look-alikes that must not flag."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.rules import CodeEvent, Reference, evaluate_code, evaluate_sale
from tracesvc.domain.codes import CodeScheme
from tracesvc.domain.events import Event, EventKind, SaleLine, Scan
from tracesvc.domain.registry import Category, Licence, LicenceStatus, Party, PartyKind, Product

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
SKEW = timedelta(minutes=10)
CODE = "86000010000000000001"  # Atorvastatin, 28 a pack
K = EventKind


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def lic(**kw) -> tuple[Licence, ...]:
    return (Licence("L1", T0 - timedelta(days=365), **kw),)


PARTIES = {
    p.party_id: p
    for p in [
        Party("MFR", PartyKind.MANUFACTURER, licences=lic(), reports_events=True),
        Party("WHS", PartyKind.WHOLESALER, licences=lic(), reports_events=True),
        Party("WHS_QUIET", PartyKind.WHOLESALER, licences=lic()),  # does not report: not checked for custody
        Party("WHS_EXPIRES", PartyKind.WHOLESALER, licences=lic(valid_to=t(120))),
        Party("WHS_SUSPENDED", PartyKind.WHOLESALER, licences=lic(status_history=((LicenceStatus.SUSPENDED, t(-60)),))),
        Party("DC", PartyKind.CHAIN_HQ, chain_id="C1", licences=lic()),
        Party("P1", PartyKind.PHARMACY, chain_id="C1", licences=lic()),
        Party("P2", PartyKind.PHARMACY, chain_id="C1", licences=lic()),
        Party("Q", PartyKind.PHARMACY, licences=lic()),
        Party("DEALER_PHARMACY", PartyKind.PHARMACY, licences=lic()),
    ]
}
PRODUCTS = {
    p.prefix: p
    for p in [
        Product(
            "8600001",
            CodeScheme.MSFX,
            28,
            Category.DRUG,
            manufacturer_id="MFR",
            name="Atorvastatin",
            insurance_code="XC10AAA001",
        ),
        Product(
            "8600002",
            CodeScheme.MSFX,
            1,
            Category.DRUG,
            manufacturer_id="MFR",
            name="Cheap drug",
            insurance_code="XR05AAA001",
        ),
        Product("8600009", CodeScheme.MSFX, 1, Category.HEALTH_FOOD, name="Protein powder"),
    ]
}
REF = Reference(PARTIES, PRODUCTS)


def receipt(eid, minutes, party="P1", supplier="WHS"):
    return CodeEvent(eid, K.RECEIPT, party, t(minutes), counterparty_id=supplier)


def transfer(eid, minutes, sender="DC", to="P1"):
    return CodeEvent(eid, K.TRANSFER, sender, t(minutes), counterparty_id=to)


def sale(eid, minutes, party="P1", units=None, fund=1000, buyer="b" * 64):
    return CodeEvent(
        eid, K.SALE, party, t(minutes), units=units, sale_id=f"S-{eid}", buyer_token=buyer, fund_paid_fen=fund
    )


def refund(eid, minutes, of, party="P1", units=None):
    return CodeEvent(eid, K.SALE_RETURN, party, t(minutes), units=units, sale_id=f"S-{of}")


SUPPLY = [CodeEvent("mfr-in", K.OPENING_STOCK, "MFR", t(-600)), receipt("whs-in", -300, party="WHS", supplier="MFR")]


def kinds(events, rule=None):
    found = evaluate_code(CODE, events, REF, SKEW).findings
    return sorted((f.rule.value, f.kind, f.decisive_event_id) for f in found if rule is None or f.rule.value == rule)


# -- D ----------------------------------------------------------------------------------------


def test_d_same_party_resale():
    events = SUPPLY + [receipt("r", 0), sale("s1", 60), sale("s2", 120)]
    assert kinds(events, "D") == [("D", "SAME_PARTY", "s2")]


def test_d_cross_party_resale_gets_a_chain():
    events = SUPPLY + [receipt("r", 0), sale("s1", 60, fund=900), sale("s2", 600, party="Q")]
    result = evaluate_code(CODE, events, REF, SKEW)
    d = [f for f in result.findings if f.rule.value == "D"]
    assert [(f.kind, f.severity.value, f.subject_party, f.related_parties) for f in d] == [
        ("CROSS_PARTY", "HIGH", "Q", ("P1",))
    ]
    assert d[0].evidence == ("s1", "s2")
    chain = [c for c in result.chains if c.flag_identity == d[0].identity][0]
    assert chain.reentry is None and [s.event_id for s in chain.originals] == ["s1"]
    assert [s.event_id for s in chain.resales] == ["s2"]


def test_d_split_sales_up_to_the_pack_do_not_flag_but_one_more_unit_does():
    splits = [sale(f"s{n}", 60 + n, units=7) for n in range(4)]  # 4 × 7 = 28
    assert kinds(SUPPLY + [receipt("r", 0)] + splits, "D") == []
    assert kinds(SUPPLY + [receipt("r", 0)] + splits + [sale("s9", 99, units=1)], "D") == [("D", "SAME_PARTY", "s9")]


def test_d_a_refunded_sale_sold_again_is_not_a_repeat():
    events = SUPPLY + [receipt("r", 0), sale("s1", 60), refund("ret", 90, of="s1"), sale("s2", 120)]
    assert kinds(events, "D") == []
    partial = SUPPLY + [
        receipt("r", 0),
        sale("s1", 60, units=20),
        refund("ret", 90, of="s1", units=10),
        sale("s2", 120, units=18),
    ]
    assert kinds(partial, "D") == []  # 20 - 10 + 18 = 28


def test_d_a_refund_dated_after_the_resale_does_not_excuse_it():
    events = SUPPLY + [receipt("r", 0), sale("s1", 60), sale("s2", 120), refund("ret", 200, of="s1")]
    assert kinds(events, "D") == [("D", "SAME_PARTY", "s2")]


# -- L ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "story, kind",
    [
        ([receipt("r", 0, supplier="NOBODY")], "UNLICENSED_SUPPLIER"),
        ([receipt("r", 0, supplier="Q")], "UNLICENSED_SUPPLIER"),  # a pharmacy is no supplier
        ([receipt("r", 0, supplier="WHS_SUSPENDED")], "UNLICENSED_SUPPLIER"),
        ([receipt("r", 200, supplier="WHS_EXPIRES")], "UNLICENSED_SUPPLIER"),  # expired before the receipt
        ([receipt("r", 0, supplier="WHS")], "SUPPLIER_NEVER_HELD"),  # 过票: WHS reports, never held it
        ([transfer("t", 0, sender="Q")], "NOT_IN_CHAIN"),
        ([transfer("t", 0, sender="DC")], "NOT_IN_CHAIN"),  # DC never had it legally
        ([receipt("r", 400)], "RECEIVED_AFTER_SALE"),
        ([receipt("r", 0, party="Q")], "RECEIVED_ELSEWHERE"),
        ([], "NEVER_RECEIVED"),
    ],
)
def test_l_each_kind(story, kind):
    events = story + [sale("s", 300)]
    if kind != "SUPPLIER_NEVER_HELD" and kind != "NEVER_RECEIVED" and kind != "RECEIVED_ELSEWHERE":
        events += SUPPLY
    assert [k for k in kinds(events, "L")] == [("L", kind, "s")]


@pytest.mark.parametrize(
    "story",
    [
        [receipt("dc", 0, party="DC"), transfer("t", 30)],  # chain DC → store
        [CodeEvent("o", K.OPENING_STOCK, "P1", t(0))],  # declared opening stock
        [receipt("r", 305)],  # a receipt a few minutes after the sale, within the skew
        [receipt("r", 0, supplier="WHS_EXPIRES")],  # licence expires after the receipt
        [receipt("r", 0, supplier="WHS_QUIET")],  # licensed supplier that does not report its custody
        [receipt("r", 0, supplier="MFR")],  # straight from the maker
    ],
)
def test_l_legitimate_paths_do_not_flag(story):
    assert kinds(SUPPLY + story + [sale("s", 300)], "L") == []


def test_l_a_refund_is_a_legal_custody_in_for_a_resale():
    events = [sale("s1", 60), refund("ret", 90, of="s1"), sale("s2", 120)]
    assert kinds(events, "L") == [("L", "NEVER_RECEIVED", "s1")]


def test_l_the_kind_precedence_follows_design_order():
    events = SUPPLY + [receipt("bad", 0, supplier="NOBODY"), transfer("t", 10, sender="Q"), sale("s", 300)]
    assert kinds(events, "L") == [("L", "UNLICENSED_SUPPLIER", "s")]


# -- R ----------------------------------------------------------------------------------------


def test_r_a_sold_box_received_again_is_a_reentry_with_its_chain():
    events = SUPPLY + [
        receipt("r", 0),
        sale("s1", 60, fund=2695, buyer="a" * 64),
        receipt("back", 2000, party="Q", supplier="WHS_QUIET"),
        sale("s2", 2100, party="Q", buyer="c" * 64),
    ]
    result = evaluate_code(CODE, events, REF, SKEW)
    r = [f for f in result.findings if f.rule.value == "R"]
    assert [(f.kind, f.decisive_event_id, f.subject_party, f.money_fen) for f in r] == [("REENTRY", "back", "Q", 2695)]
    chain = [c for c in result.chains if c.flag_identity == r[0].identity][0]
    assert [(s.party_id, s.buyer_token) for s in chain.originals] == [("P1", "a" * 64)]
    assert (chain.reentry.party_id, chain.reentry.supplier_id) == ("Q", "WHS_QUIET")
    assert [(s.party_id, s.buyer_token) for s in chain.resales] == [("Q", "c" * 64)]


def test_r_a_receipt_back_filled_after_the_sellers_own_sale_is_a_reentry():
    events = SUPPLY + [sale("s1", 60), receipt("late", 500)]
    assert kinds(events, "R") == [("R", "REENTRY", "late")]


def test_r_no_reentry_for_refunded_boxes_or_receipts_within_the_skew():
    refunded = SUPPLY + [receipt("r", 0), sale("s1", 60), refund("ret", 90, of="s1"), transfer("t", 200, "P1", "P2")]
    assert kinds(refunded, "R") == []
    within_skew = SUPPLY + [sale("s1", 60), receipt("r", 65)]
    assert kinds(within_skew, "R") == []


def test_order_of_input_does_not_matter():
    events = SUPPLY + [
        receipt("r", 0),
        sale("s1", 60),
        receipt("back", 2000, party="Q", supplier="NOBODY"),
        sale("s2", 2100, party="Q"),
        refund("x", 2200, of="s2", party="Q"),
        sale("s3", 2300),
    ]
    expected = evaluate_code(CODE, events, REF, SKEW)
    rng = random.Random(5)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert evaluate_code(CODE, shuffled, REF, SKEW) == expected


# -- S ----------------------------------------------------------------------------------------


def s_sale(*lines: SaleLine) -> Event:
    return Event("sale-1", K.SALE, "P1", t(0), sale_id="S1", lines=lines)


def s_kinds(sale_event, ref=REF):
    return sorted((f.kind, f.code) for f in evaluate_sale(sale_event, ref))


def test_s_non_drug_scanned_as_an_insured_drug():
    food = "86000090000000000001"
    assert s_kinds(s_sale(SaleLine("XC10AAA001", quantity=1, fund_paid_fen=2000, scans=(Scan(food),)))) == [
        ("NON_DRUG", food),
        ("UNSCANNED_UNITS", "XC10AAA001"),
    ]  # 1 unit of food scanned for 28 billed
    barcode = "6901234567892"
    got = s_kinds(s_sale(SaleLine("XR05AAA001", quantity=1, scans=(Scan(barcode, is_trace=False),))))
    assert got == [("NON_DRUG", barcode)]


def test_s_cheap_drug_billed_as_a_dear_one_and_unknown_products():
    cheap = "86000020000000000001"
    unknown = "86999990000000000001"
    got = s_kinds(s_sale(SaleLine("XC10AAA001", quantity=1, scans=(Scan(cheap, 28), Scan(unknown)))))
    assert got == [("PRODUCT_MISMATCH", cheap), ("UNKNOWN_PRODUCT", unknown)]


def test_s_unscanned_units_per_billed_item_and_clean_split_sales():
    assert s_kinds(s_sale(SaleLine("XC10AAA001", quantity=2, fund_paid_fen=4000, scans=(Scan(CODE),)))) == [
        ("UNSCANNED_UNITS", "XC10AAA001")
    ]
    clean = s_sale(
        SaleLine("XC10AAA001", split=True, quantity=10, scans=(Scan(CODE, 10),)), SaleLine("ZZ-NOT-A-DRUG", quantity=3)
    )  # not billed as an insured drug: not judged
    assert s_kinds(clean) == []


def test_s_unknown_code_when_the_makers_list_is_loaded():
    ref = Reference(PARTIES, PRODUCTS, listed_products=frozenset({"8600001"}), commissioned=frozenset({CODE}))
    other = "86000010000000000999"
    got = s_kinds(s_sale(SaleLine("XC10AAA001", quantity=2, scans=(Scan(CODE), Scan(other)))), ref)
    assert got == [("UNKNOWN_CODE", other)]
