"""Event validation and normalisation as pure functions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracesvc.domain.events import (
    Event,
    EventKind,
    InvalidEvent,
    Item,
    ReturnedCode,
    SaleLine,
    Scan,
    normalize_event,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
STATIN = "86000010000000000001"


class Registry:
    manufacturer_prefixes = frozenset()

    def party_exists(self, party_id):
        return party_id in {"P1", "WHS1"}

    def pack_units(self, key):
        return {"8600001": 28}.get(key)


def normalize(ev):
    return normalize_event(ev, Registry(), now=NOW)


def fields(exc_info) -> dict[str, str]:
    return {v.field: v.description for v in exc_info.value.violations}


def receipt(**kw) -> Event:
    base = dict(
        event_id="r1",
        kind=EventKind.RECEIPT,
        party_id="P1",
        occurred_at=NOW - timedelta(hours=1),
        counterparty_id="WHS1",
        items=(Item(STATIN),),
    )
    return Event(**{**base, **kw})


def sale(*scans: Scan, split=False, quantity=1) -> Event:
    return Event(
        event_id="s1",
        kind=EventKind.SALE,
        party_id="P1",
        occurred_at=NOW,
        sale_id="S1",
        lines=(SaleLine("XC10AAA001", split=split, quantity=quantity, amount_fen=100, scans=scans),),
    )


def test_every_violation_of_an_event_is_reported_at_once():
    bad = receipt(
        event_id="",
        party_id="NOBODY",
        counterparty_id="",
        occurred_at=NOW + timedelta(days=2),
        items=(Item("123"), Item(STATIN, expiry="2028-13-01")),
    )
    with pytest.raises(InvalidEvent) as info:
        normalize(bad)
    got = fields(info)
    assert set(got) == {
        "header.event_id",
        "header.party_id",
        "header.occurred_at",
        "supplier_id",
        "items[0].code",
        "items[1].expiry",
    }
    assert "not in the registry" in got["header.party_id"]
    assert "future" in got["header.occurred_at"]


def test_a_code_listed_twice_in_one_event_is_rejected():
    with pytest.raises(InvalidEvent) as info:
        normalize(receipt(items=(Item(STATIN), Item(" " + STATIN))))
    assert "already listed as items[0]" in fields(info)["items[1].code"]


def test_opening_stock_needs_a_source_document_per_item():
    with pytest.raises(InvalidEvent) as info:
        normalize(receipt(kind=EventKind.OPENING_STOCK, counterparty_id=""))
    assert fields(info) == {"items[0].source_document": "required"}


def test_split_sales_within_the_pack_are_accepted_and_summed():
    ev = normalize(sale(Scan(STATIN, 10), Scan(STATIN, 18), split=True, quantity=28))
    assert [r[:4] for r in ev.code_rows()] == [(STATIN, 28, 0, True)]  # (code, units, line, is_trace)


@pytest.mark.parametrize(
    "scans",
    [
        (Scan(STATIN), Scan(STATIN)),  # the same box scanned twice
        (Scan(STATIN), Scan(STATIN, 1)),
        (Scan(STATIN, 20), Scan(STATIN, 9)),
        (Scan(STATIN, 29),),
    ],
)
def test_a_double_scan_is_stopped_at_the_counter(scans):
    with pytest.raises(InvalidEvent) as info:
        normalize(sale(*scans, split=True, quantity=2))
    assert any(STATIN in d and "exceed its pack of 28" in d for d in fields(info).values())


def test_non_positive_units_and_bad_money_are_rejected():
    ev = Event(
        event_id="s1",
        kind=EventKind.SALE,
        party_id="P1",
        occurred_at=NOW,
        sale_id="S1",
        lines=(
            SaleLine(
                "XC10AAA001", quantity=0, amount_fen=100, fund_paid_fen=200, scans=(Scan(STATIN, 0), Scan(STATIN, -2))
            ),
        ),
    )
    with pytest.raises(InvalidEvent) as info:
        normalize(ev)
    got = fields(info)
    assert "positive" in got["lines[0].quantity"]
    assert "exceeds the amount" in got["lines[0].fund_paid_fen"]
    assert "positive" in got["lines[0].scanned[0].units"] and "positive" in got["lines[0].scanned[1].units"]


def test_a_commodity_barcode_at_a_sale_is_kept_as_evidence_not_rejected():
    ev = normalize(sale(Scan("6901234567892")))
    assert ev.lines[0].scans == (Scan("6901234567892", None, is_trace=False),)


def test_sale_return_validation():
    ev = Event(
        event_id="x",
        kind=EventKind.SALE_RETURN,
        party_id="P1",
        occurred_at=NOW,
        sale_id="",
        returned=(ReturnedCode(STATIN, 0),),
    )
    with pytest.raises(InvalidEvent) as info:
        normalize(ev)
    assert set(fields(info)) == {"sale_id", "codes[0].units"}


def test_serialization_round_trips_and_hash_tracks_content():
    ev = normalize(sale(Scan(STATIN, 5), split=True, quantity=5))
    text, digest = ev.serialized()
    import json

    assert Event.from_json(json.loads(text)) == ev
    other = normalize(sale(Scan(STATIN, 6), split=True, quantity=6))
    assert other.serialized()[1] != digest
    assert normalize(sale(Scan(STATIN, 5), split=True, quantity=5)).serialized()[1] == digest


def test_a_sale_codes_share_of_its_line_fund_and_a_receipts_batch_are_derived_for_storage():
    """What SQL reads by name instead of by position in the payload (event_codes.fund_fen, batch)."""
    other = STATIN[:-1] + "2"
    line = SaleLine(
        "XC10AAA001",
        split=True,
        quantity=12,
        amount_fen=2000,
        fund_paid_fen=1001,
        scans=(Scan(STATIN, 10), Scan(other, 1), Scan(STATIN, 1)),
    )
    ev = Event(event_id="s9", kind=EventKind.SALE, party_id="P1", occurred_at=NOW, sale_id="S9", lines=(line,))
    shares = {r.code: r.fund_fen for r in ev.code_rows()}
    assert shares == {STATIN: 1001 * 2 // 3, other: 1001 // 3}  # the line's fund × scans of the code ÷ scans
    assert ev.fund_paid_fen == 1001
    got = receipt(items=(Item(STATIN, batch="B2026-01"),))
    assert [r.batch for r in got.code_rows()] == ["B2026-01"]
