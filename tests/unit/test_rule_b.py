"""Rule B (buyer anomalies) as a pure function: each kind with a minimal story, each boundary, and the
legitimate look-alikes that must not flag (DESIGN §5 B)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.rules import BuyerParams, Reference, Rule, Severity, evaluate_buyer
from tracesvc.domain.codes import CodeScheme
from tracesvc.domain.events import Event, EventKind, ReturnedCode, SaleLine
from tracesvc.domain.registry import Category, Party, PartyKind, Product

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
SKEW = timedelta(minutes=10)
STATIN = "XC10AAA001"  # 28 a pack, 1 a day: the supply limit is 120 units in 90 days
METFORMIN = "XA10BAA001"  # two products: packs of 60 (2 a day) and 30 (3 a day)
SYRUP = "XR05AAA001"  # no daily units: no supply limit
PARAMS = BuyerParams()
_ids = itertools.count()

PARTIES = {
    p.party_id: p
    for p in [
        Party("BJ1", PartyKind.PHARMACY, region="110105"),
        Party("BJ2", PartyKind.PHARMACY, region="110108"),
        Party("BJ3", PartyKind.PHARMACY, region="110102"),
        Party("BJ4", PartyKind.PHARMACY, region="110101"),
        Party("SH1", PartyKind.PHARMACY, region="310101"),
        Party("GZ1", PartyKind.PHARMACY, region="440103"),
        Party("NOREGION", PartyKind.PHARMACY),
    ]
}
PRODUCTS = {
    p.prefix: p
    for p in [
        Product("8600001", CodeScheme.MSFX, 28, Category.DRUG, insurance_code=STATIN, daily_units=1),
        Product("8600003", CodeScheme.MSFX, 60, Category.DRUG, insurance_code=METFORMIN, daily_units=2),
        Product("8600004", CodeScheme.MSFX, 30, Category.DRUG, insurance_code=METFORMIN, daily_units=3),
        Product("8600002", CodeScheme.MSFX, 1, Category.DRUG, insurance_code=SYRUP),
    ]
}
REF = Reference(PARTIES, PRODUCTS)


def days(d: float) -> datetime:
    return T0 + timedelta(days=d)


def sale(  # noqa: PLR0913
    when: datetime,
    party: str = "BJ1",
    drug: str = STATIN,
    *,
    packs: int = 1,
    units: int | None = None,
    fund: int = 2000,
    eid: str | None = None,
    extra: tuple[SaleLine, ...] = (),
) -> Event:
    n = next(_ids)
    line = SaleLine(drug, split=units is not None, quantity=units if units is not None else packs, fund_paid_fen=fund)
    return Event(
        eid or f"s{n:04d}", EventKind.SALE, party, when, sale_id=f"S{n}", buyer_token="t" * 64, lines=(line, *extra)
    )


def refund(of: Event, when: datetime | None = None) -> Event:
    return Event(
        f"r-{of.event_id}",
        EventKind.SALE_RETURN,
        of.party_id,
        when or of.occurred_at + timedelta(hours=1),
        sale_id=of.sale_id,
        returned=(ReturnedCode("86000010000000000001"),),
    )


def found(sales, refunds=(), params=PARAMS, skew=SKEW) -> list[tuple[str, str, str]]:
    return sorted((f.kind, f.decisive_event_id, f.code) for f in evaluate_buyer(sales, refunds, REF, params, skew))


def one(sales, refunds=(), params=PARAMS):
    out = evaluate_buyer(sales, refunds, REF, params, SKEW)
    assert len(out) == 1, out
    return out[0]


# -- OVER_SUPPLY ------------------------------------------------------------------------------


def test_over_supply_minimal_story():
    sales = [sale(days(k * 10), packs=1) for k in range(4)] + [sale(days(40), units=9, fund=700)]
    f = one(sales)  # 4 × 28 + 9 = 121 units at 1 a day: 121 days > 90 + 30
    assert (f.rule, f.kind, f.severity, f.code) == (Rule.B, "OVER_SUPPLY", Severity.HIGH, STATIN)
    assert f.decisive_event_id == sales[-1].event_id and f.subject_party == "BJ1"
    assert f.money_fen == 700 and f.evidence == tuple(s.event_id for s in sales)


def test_supply_exactly_at_the_limit_does_not_flag_and_one_unit_over_does():
    at_limit = [sale(days(k * 10), packs=1) for k in range(4)] + [sale(days(40), units=8)]
    assert found(at_limit) == []  # 120 units: exactly 120 days, and "exceed" is strict
    over = [*at_limit, sale(days(41), units=1)]
    assert found(over) == [("OVER_SUPPLY", over[-1].event_id, STATIN)]


def test_every_counted_sale_after_which_supply_is_over_is_decisive():
    sales = [sale(days(k), packs=2) for k in range(4)]  # 56, 112, 168, 224 units
    assert found(sales) == sorted(("OVER_SUPPLY", s.event_id, STATIN) for s in sales[2:])


def test_the_supply_windows_open_end_drops_a_sale_exactly_w_before():
    first = sale(days(0), units=100)
    assert found([first, sale(days(90), units=21)]) == []  # (t − 90 d, t] leaves out the sale at t − 90 d
    late = sale(days(90) - timedelta(seconds=1), units=21)
    assert found([first, late]) == [("OVER_SUPPLY", late.event_id, STATIN)]


def test_supply_takes_the_largest_daily_dose_and_the_smallest_pack_under_one_code():
    # 12 packs of METFORMIN billed as the 30-pack = 360 units; at 3 a day that is exactly 120 days.
    sales = [sale(days(k), drug=METFORMIN, packs=3) for k in range(4)]
    assert found(sales) == []
    assert found([*sales, sale(days(5), drug=METFORMIN, units=1)])[0][0] == "OVER_SUPPLY"


def test_no_supply_limit_without_daily_units_and_refunded_sales_do_not_count():
    assert found([sale(days(k), drug=SYRUP, packs=50) for k in range(5)]) == []
    sales = [sale(days(k * 10), packs=1) for k in range(4)] + [sale(days(40), units=9)]
    assert found(sales, [refund(sales[0])]) == []


def test_a_chronic_patients_monthly_refills_do_not_flag():
    sales = [sale(days(k * 28), party=random.Random(k).choice(["BJ1", "BJ2"]), packs=1) for k in range(26)]
    assert found(sales) == []  # two years of one pack every 28 days


# -- MULTI_PHARMACY ---------------------------------------------------------------------------


def test_multi_pharmacy_minimal_story():
    sales = [sale(days(0), "BJ1"), sale(days(2), "BJ2"), sale(days(4), "BJ3", fund=1500)]
    f = one(sales)
    assert (f.kind, f.severity, f.code, f.subject_party) == ("MULTI_PHARMACY", Severity.MEDIUM, STATIN, "BJ3")
    assert f.related_parties == ("BJ1", "BJ2") and f.money_fen == 1500
    assert f.evidence == tuple(s.event_id for s in sales)


def test_k_minus_one_pharmacies_do_not_flag_k_do():
    two = [sale(days(0), "BJ1"), sale(days(3), "BJ2")]
    assert found(two) == []  # buying at two pharmacies in a week
    assert found(two, params=BuyerParams(multi_pharmacies=2)) == [("MULTI_PHARMACY", two[1].event_id, STATIN)]
    three = [*two, sale(days(5), "BJ3")]
    assert found(three) == [("MULTI_PHARMACY", three[2].event_id, STATIN)]


def test_only_a_new_place_in_the_window_is_decisive():
    sales = [sale(days(k), party, drug=SYRUP) for k, party in enumerate(["BJ1", "BJ2", "BJ3", "BJ1", "BJ4"])]
    assert found(sales) == sorted(("MULTI_PHARMACY", sales[i].event_id, SYRUP) for i in (2, 4))


def test_the_multi_windows_open_end():
    first, second = sale(days(0), "BJ1"), sale(days(3), "BJ2")
    assert found([first, second, sale(days(7), "BJ3")]) == []  # the sale at t − 7 d is outside (t − 7 d, t]
    inside = sale(days(7) - timedelta(seconds=1), "BJ3")
    assert found([first, second, inside]) == [("MULTI_PHARMACY", inside.event_id, STATIN)]


def test_a_refund_then_a_purchase_elsewhere_does_not_flag():
    first, returned, elsewhere = sale(days(0), "BJ1"), sale(days(1), "BJ2"), sale(days(2), "BJ3")
    assert found([first, returned, elsewhere], [refund(returned)]) == []


def test_places_count_per_insured_drug_and_one_flag_per_sale_and_drug():
    assert found([sale(days(0), "BJ1"), sale(days(1), "BJ2", drug=SYRUP), sale(days(2), "BJ3")]) == []
    two_lines = sale(days(2), "BJ3", fund=100, extra=(SaleLine(STATIN, quantity=1, fund_paid_fen=300),))
    f = one([sale(days(0), "BJ1"), sale(days(1), "BJ2"), two_lines])
    assert f.money_fen == 400  # the fund paid on both of X's lines


# -- CARD_TRAVEL ------------------------------------------------------------------------------


def test_card_travel_minimal_story():
    beijing = sale(T0, "BJ1", drug=SYRUP)
    shanghai = sale(
        T0 + timedelta(minutes=30), "SH1", drug=SYRUP, fund=900, extra=(SaleLine(METFORMIN, fund_paid_fen=100),)
    )
    f = one([beijing, shanghai])
    assert (f.kind, f.severity, f.code, f.subject_party) == ("CARD_TRAVEL", Severity.HIGH, "", "SH1")
    assert f.related_parties == ("BJ1",) and f.money_fen == 1000  # all of the sale's fund paid
    assert f.evidence == (beijing.event_id, shanghai.event_id)


def test_travel_just_under_t_minus_skew_flags_and_at_or_over_it_does_not():
    limit = PARAMS.travel - SKEW  # 1 h 50 min
    beijing = sale(T0, "BJ1", drug=SYRUP)
    under = sale(T0 + limit - timedelta(seconds=1), "SH1", drug=SYRUP)
    assert found([beijing, under]) == [("CARD_TRAVEL", under.event_id, "")]
    assert found([beijing, sale(T0 + limit, "SH1", drug=SYRUP)]) == []
    assert found([beijing, sale(T0 + limit + timedelta(minutes=1), "SH1", drug=SYRUP)]) == []


def test_travel_to_another_province_a_day_later_and_within_one_province_do_not_flag():
    assert found([sale(T0, "BJ1", drug=SYRUP), sale(T0 + timedelta(days=1), "SH1", drug=SYRUP)]) == []
    assert found([sale(T0, "BJ1", drug=SYRUP), sale(T0 + timedelta(minutes=5), "BJ2", drug=SYRUP)]) == []
    assert found([sale(T0, "NOREGION", drug=SYRUP), sale(T0 + timedelta(minutes=5), "SH1", drug=SYRUP)]) == []


def test_one_card_travel_per_sale_and_a_refunded_earlier_sale_still_counts():
    bj, gz = sale(T0, "BJ1", drug=SYRUP), sale(T0 + timedelta(minutes=10), "GZ1", drug=SYRUP)
    sh = sale(T0 + timedelta(minutes=20), "SH1", drug=SYRUP)
    out = evaluate_buyer([bj, gz, sh], [refund(bj)], REF, PARAMS, SKEW)
    assert sorted((f.decisive_event_id, f.related_parties) for f in out) == [
        (gz.event_id, ("BJ1",)),
        (sh.event_id, ("BJ1", "GZ1")),
    ]


def test_at_one_instant_the_later_sale_in_event_id_order_is_decisive():
    a = sale(T0, "BJ1", drug=SYRUP, eid="a")
    b = sale(T0, "SH1", drug=SYRUP, eid="b")
    assert found([b, a]) == [("CARD_TRAVEL", "b", "")]


# -- all kinds --------------------------------------------------------------------------------


def test_findings_do_not_depend_on_input_order():
    sales = [sale(days(k / 3), ["BJ1", "BJ2", "BJ3", "SH1"][k % 4], packs=2) for k in range(12)]
    refunds = [refund(sales[5])]
    expected = evaluate_buyer(sales, refunds, REF, PARAMS, SKEW)
    assert {f.kind for f in expected} == {"OVER_SUPPLY", "MULTI_PHARMACY"}
    for seed in range(5):
        shuffled = sales[:]
        random.Random(seed).shuffle(shuffled)
        assert evaluate_buyer(shuffled, refunds, REF, PARAMS, SKEW) == expected


def test_parameters_from_the_environment_and_a_runs_record():
    params = BuyerParams.from_env(
        {"TRACESVC_B_MULTI_PHARMACIES": "4", "TRACESVC_B_TRAVEL_MINUTES": "90", "PATH": "/bin"}
    )
    assert params.multi_pharmacies == 4 and params.travel == timedelta(minutes=90)
    assert params.supply_window == timedelta(days=90)
    assert BuyerParams.from_json(params.to_json()) == params
    assert BuyerParams.from_json({"multi_window_days": 0}, params) == params  # 0: keep the setting
    with pytest.raises(ValueError, match="multi_pharmacies"):
        BuyerParams(multi_pharmacies=0)


def test_parameters_beyond_their_ceiling_are_refused_not_overflowed():
    """A hostile RunReconciliation once asked for a window of 2**31 - 1 days: timedelta overflowed and
    the call ended INTERNAL. Every parameter has a ceiling, refused as a ValueError (INVALID_ARGUMENT)."""
    for key, ceiling in (("supply_window_days", 3650), ("travel_minutes", 525_600), ("multi_pharmacies", 10_000)):
        assert BuyerParams.from_json({key: ceiling})  # the ceiling itself is allowed
        for hostile in (2**31 - 1, -(2**31)):
            with pytest.raises(ValueError, match=f"{key} must be 1 to {ceiling}"):
                BuyerParams.from_json({key: hostile})
