"""NHSA 3501–3506 messages → event drafts (pure mapping, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.unit.nhsa_samples import CODE1, CODE2, PHARMACY, envelope, purchase_row, sale_row
from tracesvc.domain import privacy
from tracesvc.domain.events import EventKind
from tracesvc.intake import nhsa
from tracesvc.intake.model import DocumentError

KEY = b"k" * 32
OPTS = nhsa.NhsaOptions(hmac_key=KEY)


def one(message, options=OPTS):
    out = nhsa.map_message(message, options)
    assert len(out.mapped) == 1, (out.mapped, out.unmapped)
    return out.mapped[0]


@pytest.mark.parametrize(
    ("infno", "key", "row", "kind"),
    [
        (
            "3501",
            "invinfo",
            {"dynt_no": "D1", "invdate": "2026-09-01", "drug_trac_codg": CODE1},
            EventKind.OPENING_STOCK,
        ),
        (
            "3502",
            "invinfo",
            {"purc_invo_no": "I9", "inv_chg_time": "2026-09-01 08:00:00", "drug_trac_codg": CODE1},
            EventKind.OPENING_STOCK,
        ),
        ("3503", "purcinfo", purchase_row(), EventKind.RECEIPT),
        ("3504", "purcinfo", purchase_row(), EventKind.PURCHASE_RETURN),
        ("3505", "selinfo", sale_row(), EventKind.SALE),
        ("3506", "selinfo", sale_row(), EventKind.SALE_RETURN),
    ],
)
@pytest.mark.parametrize("batch", ["", "A"])
def test_every_infno_and_its_batch_variant_maps_to_its_kind(infno, key, row, kind, batch):
    rows_key = f"{key}Detail" if batch else key
    m = one(envelope(infno + batch, {rows_key: [row] if batch else row}))
    assert m.draft.kind is kind
    assert m.draft.party_id == PHARMACY
    assert m.violations == ()
    assert [c for c, *_ in m.draft.code_rows()] == [CODE1]
    assert m.draft.event_id.startswith(f"nhsa:{PHARMACY}:{infno}:")


def test_batch_and_single_message_of_the_same_rows_give_the_same_event_ids():
    single = nhsa.map_message(envelope("3503", {"purcinfo": purchase_row()}), OPTS)
    batch = nhsa.map_message(envelope("3503A", {"purcinfoDetail": [purchase_row()]}, msgid="M2"), OPTS)
    assert [m.draft.event_id for m in single.mapped] == [m.draft.event_id for m in batch.mapped]


def test_receipt_takes_supplier_batch_expiry_and_local_time():
    d = one(envelope("3503", {"purcinfo": purchase_row()})).draft
    assert d.counterparty_id == "WHS1"
    assert d.items[0].batch == "B2026" and d.items[0].expiry == "2028-06-30"
    assert d.occurred_at == datetime(2026, 9, 30, 8, 0, tzinfo=UTC)  # 16:00 at +08:00
    assert d.document_no == "PO1"


def test_supplier_falls_back_to_its_name():
    row = purchase_row()
    del row["spler_pmtno"]
    assert one(envelope("3503", {"purcinfo": row})).draft.counterparty_id == "某医药公司"


def test_time_zone_is_a_setting():
    opts = nhsa.NhsaOptions(hmac_key=KEY, zone=timezone(timedelta(hours=0)))
    assert one(envelope("3505", {"selinfo": sale_row()}), opts).draft.occurred_at == datetime(
        2026, 10, 1, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "codes",
    [
        [{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}],
        json.dumps([{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}]),
    ],
)
def test_drugtracinfo_as_array_or_json_string(codes):
    d = one(envelope("3505", {"selinfo": sale_row(codes=codes)})).draft
    assert [s.code for s in d.lines[0].scans] == [CODE1, CODE2]


@pytest.mark.parametrize("codes", [{"drug_trac_codg": CODE1}, json.dumps({"drug_trac_codg": CODE1})])
def test_drugtracinfo_as_one_object_or_its_json_string(codes):
    d = one(envelope("3505", {"selinfo": sale_row(codes=codes)})).draft
    assert [s.code for s in d.lines[0].scans] == [CODE1]


def test_flat_drug_trac_codg_when_no_drugtracinfo():
    row = sale_row(codes=None)
    del row["drugtracinfo"]
    row["drug_trac_codg"] = f"{CODE1},{CODE2}"
    assert [s.code for s in one(envelope("3505", {"selinfo": row})).draft.lines[0].scans] == [CODE1, CODE2]


def test_sale_line_fields_and_the_buyer_is_hashed_never_kept():
    m = one(envelope("3505", {"selinfo": sale_row(sel_retn_cnt="2", fund_pay_sumamt="30.00")}))
    d = m.draft
    assert d.sale_id == "S1"
    assert d.buyer_token == privacy.buyer_token(KEY, "43000012345")
    assert "43000012345" not in json.dumps(d.to_json(), ensure_ascii=False)
    line = d.lines[0]
    assert (line.insurance_code, line.split, line.quantity, line.amount_fen, line.fund_paid_fen) == (
        "XC10AAA001",
        False,
        2,
        5100,
        3000,
    )
    assert line.scans[0].units is None  # a whole pack


def test_split_sale_takes_its_units_from_sel_retn_cnt():
    line = one(envelope("3505", {"selinfo": sale_row(trdn_flag="1", sel_retn_cnt="7")})).draft.lines[0]
    assert line.split and line.quantity == 7 and line.scans[0].units == 7


def test_split_row_with_several_codes_is_a_row_error():
    m = one(
        envelope(
            "3505", {"selinfo": sale_row(trdn_flag="1", codes=[{"drug_trac_codg": CODE1}, {"drug_trac_codg": CODE2}])}
        )
    )
    assert any("拆零" in v.description for v in m.violations)


def test_rows_of_one_settlement_are_the_lines_of_one_sale():
    out = nhsa.map_message(
        envelope(
            "3505", {"selinfo": [sale_row("S1"), sale_row("S2"), sale_row("S1", codes=[{"drug_trac_codg": CODE2}])]}
        ),
        OPTS,
    )
    assert [(m.draft.sale_id, m.rows, len(m.draft.lines)) for m in out.mapped] == [("S1", (0, 2), 2), ("S2", (1,), 1)]


def test_sale_without_setl_id_is_named_by_medins_prod_sel_no():
    row = sale_row()
    del row["setl_id"]
    assert one(envelope("3505", {"selinfo": row})).draft.sale_id == "SEL-S1"


def test_return_links_to_its_sale_and_a_split_return_names_units():
    d = one(
        envelope(
            "3506", {"selinfo": sale_row("S1", trdn_flag="1", sel_retn_cnt="3", sel_retn_time="2026-10-02 09:00:00")}
        )
    ).draft
    assert d.kind is EventKind.SALE_RETURN and d.sale_id == "S1"
    assert [(r.code, r.units) for r in d.returned] == [(CODE1, 3)]


def test_two_returns_of_one_sale_at_different_times_are_two_events():
    out = nhsa.map_message(
        envelope(
            "3506",
            {
                "selinfo": [
                    sale_row("S1", sel_retn_time="2026-10-02 09:00:00"),
                    sale_row("S1", sel_retn_time="2026-10-03 09:00:00"),
                ]
            },
        ),
        OPTS,
    )
    assert len({m.draft.event_id for m in out.mapped}) == 2


def test_resent_message_maps_to_the_same_event_ids():
    msg = envelope("3505", {"selinfo": [sale_row("S1"), sale_row("S2")]})
    first = [m.draft for m in nhsa.map_message(msg, OPTS).mapped]
    again = [m.draft for m in nhsa.map_message(json.loads(json.dumps(msg)) | {"msgid": "M9"}, OPTS).mapped]
    assert [d.serialized() for d in first] == [d.serialized() for d in again]


def test_bare_input_takes_infno_and_party_from_the_caller():
    opts = nhsa.NhsaOptions(hmac_key=KEY, party_id="P2", infno="3505")
    assert one({"selinfo": sale_row()}, opts).draft.party_id == "P2"


def test_a_3501_stock_count_is_opening_stock_its_document_the_count_date_and_message():
    rows = {"invinfo": [{"invdate": "2026-09-01", "fixmedins_bchno": "B7", "drug_trac_codg": CODE1}]}
    msg = envelope("3501", rows) | {"msgid": "M1"}
    (m,) = nhsa.map_message(msg, OPTS).mapped
    assert m.draft.kind is EventKind.OPENING_STOCK and not m.violations
    assert m.draft.items[0].source_document == m.draft.document_no == "盘存 stock count 20260901 M1"
    again = nhsa.map_message(json.loads(json.dumps(msg)), OPTS).mapped[0].draft
    assert again.serialized() == m.draft.serialized()  # the same message re-sent: DUPLICATE


def test_a_3502_row_without_source_document_is_skipped():
    out = nhsa.map_message(
        envelope(
            "3502",
            {
                "invinfo": [
                    {"inv_chg_time": "2026-09-01 10:00:00", "drug_trac_codg": CODE1},
                    {"dynt_no": "D1", "inv_chg_time": "2026-09-01 10:00:00", "drug_trac_codg": CODE2},
                ]
            },
        ),
        OPTS,
    )
    assert [u.position for u in out.skipped] == ["input.invinfo[0]"]
    assert out.mapped[0].draft.items[0].source_document == "D1"


@pytest.mark.parametrize(
    ("message", "position"),
    [
        ([], ""),
        ({"infno": "9999", "fixmedins_code": "P1", "input": {"selinfo": sale_row()}}, "infno"),
        ({"infno": "3505", "input": {"selinfo": sale_row()}}, "fixmedins_code"),
        ({"infno": "3505", "fixmedins_code": "P1", "input": {"other": {}}}, "input"),
        ({"infno": "3505", "fixmedins_code": "P1", "input": "x"}, "input"),
        ({"selinfo": sale_row()}, "infno"),
    ],
)
def test_malformed_envelopes_are_document_errors_naming_the_field(message, position):
    with pytest.raises(DocumentError) as err:
        nhsa.map_message(message, OPTS)
    assert err.value.position == position


def test_bad_rows_get_their_own_errors_and_the_good_rows_map():
    out = nhsa.map_message(
        envelope(
            "3505",
            {
                "selinfo": [
                    sale_row("S1"),
                    "not a row",
                    sale_row("S3", sel_retn_time="yesterday"),
                    sale_row("S4", sel_retn_cnt="1.5"),
                    sale_row("S5", drugtracinfo="{oops"),
                    sale_row(setl_id="", medins_prod_sel_no=""),
                ]
            },
        ),
        OPTS,
    )
    assert [u.position for u in out.rejected] == ["input.selinfo[1]", "input.selinfo[5]"]
    by_sale = {m.draft.sale_id: [v.field for v in m.violations] for m in out.mapped}
    assert by_sale == {
        "S1": [],
        "S3": ["input.selinfo[2].sel_retn_time"],
        "S4": ["input.selinfo[3].sel_retn_cnt"],
        "S5": ["input.selinfo[4].drugtracinfo"],
    }


def test_long_or_unsafe_document_numbers_give_a_digest_id():
    eid = nhsa.event_id("P1", "3503", "单号/1" * 40, 0)
    assert eid.startswith("nhsa:") and len(eid) <= 128 and eid == nhsa.event_id("P1", "3503", "单号/1" * 40, 0)


# -- messages as pharmacies' HIS systems send them (issue 26) -------------------------------------


def test_the_supplier_is_resolved_by_licence_number_then_name_else_kept_as_given():
    registry = {"licence": {"鲁20160001": "WHS-A"}, "name": {"乙医药公司": "WHS-B"}}
    opts = nhsa.NhsaOptions(
        hmac_key=KEY, supplier_of=lambda lic, name, when: registry["licence"].get(lic) or registry["name"].get(name)
    )

    def supplier(**row):
        return one(envelope("3503", {"purcinfo": purchase_row(**row)}), opts).draft.counterparty_id

    assert supplier(spler_pmtno="鲁20160001", spler_name="甲医药公司") == "WHS-A"
    assert supplier(spler_pmtno="", spler_name="乙医药公司") == "WHS-B"  # the licence number is optional
    assert supplier(spler_pmtno="苏20990009", spler_name="丙医药公司") == "苏20990009"  # unknown: as given
    assert supplier(spler_pmtno="", spler_name="丙医药公司") == "丙医药公司"
    assert nhsa.supplier_refs(envelope("3503", {"purcinfo": [purchase_row(spler_pmtno="鲁1", spler_name="甲")]})) == (
        {"鲁1"},
        {"甲"},
    )


def test_a_self_pay_sale_is_keyed_by_its_retail_document_and_has_no_buyer():
    rows = [
        sale_row(setl_id="", psn_no="", rtal_docno="R-881", medins_prod_sel_no="SEL-1"),
        sale_row(setl_id="", psn_no="", rtal_docno="R-881", medins_prod_sel_no="SEL-2", drugtracinfo=[]),
    ]
    rows[1]["drug_trac_codg"] = CODE2
    m = one(envelope("3505", {"selinfo": rows}))
    assert not m.violations
    assert (m.draft.sale_id, m.draft.document_no, m.draft.buyer_token) == ("R-881", "R-881", "")
    assert [s.code for line in m.draft.lines for s in line.scans] == [CODE1, CODE2]


def test_two_returns_of_one_purchase_are_two_events_and_a_re_sent_one_is_the_same():
    first = purchase_row("PO1", purc_retn_stoin_time="2026-10-02 09:00:00")
    second = purchase_row("PO1", purc_retn_stoin_time="2026-10-05 15:30:00", drugtracinfo=[{"drug_trac_codg": CODE2}])
    a, b = (one(envelope("3504", {"purcinfo": row})).draft for row in (first, second))
    assert a.event_id != b.event_id and a.document_no == b.document_no == "PO1"
    assert one(envelope("3504", {"purcinfo": dict(first)}, msgid="M2")).draft.serialized() == a.serialized()


@pytest.mark.parametrize(
    ("flat", "codes"),
    [
        ("8600 0010 0000 0000 0001", ["8600 0010 0000 0000 0001"]),  # one code with spaces, as typed
        ("0106901234567892\x1d21ABC123", ["0106901234567892\x1d21ABC123"]),  # raw GS1: GS is not a list separator
        (f"{CODE1},{CODE2}", [CODE1, CODE2]),
        (f"{CODE1}；{CODE2}\n{CODE1}", [CODE1, CODE2, CODE1]),
    ],
)
def test_a_flat_code_field_splits_only_on_list_separators(flat, codes):
    assert nhsa.trace_codes({"drug_trac_codg": flat}) == (codes, "")


def test_a_spaced_code_in_a_sale_becomes_one_canonical_code():
    row = sale_row(drugtracinfo=None)
    del row["drugtracinfo"]
    row["drug_trac_codg"] = "8600 0010 0000 0000 0001"
    (scan,) = one(envelope("3505", {"selinfo": row})).draft.lines[0].scans
    assert scan.code.replace(" ", "") == CODE1  # the Ingestor parses it to the canonical 20 digits


def test_a_3507_row_names_the_row_serial_and_data_type_to_delete():
    msg = envelope("3507", {"data": [{"fixmedins_bchno": "B-9", "inv_data_type": "4"}, {"fixmedins_bchno": "B-8"}]})
    out = nhsa.map_message(msg, OPTS)
    assert [(d.data_type, d.serial, d.party_id) for d in out.deletions] == [("4", "B-9", PHARMACY)]
    assert [u.position for u in out.rejected] == ["input.data[1]"]  # no inv_data_type
    sale = one(envelope("3505", {"selinfo": sale_row(fixmedins_bchno="B-9")}))
    assert sale.aliases == (("4", "B-9"),)  # what a later 3507 finds it by


def test_a_licence_number_names_its_holder_at_the_receipt_time():
    from tracesvc.store.intake import LicenceHolder, SupplierIndex

    t = datetime(2026, 1, 1, tzinfo=UTC)
    index = SupplierIndex(
        {"京AA1": [LicenceHolder("OLD", t - timedelta(days=900), t), LicenceHolder("NEW", t, None)]},
        {"乙医药": "WHS-B"},
    )
    assert index.resolve("京AA1", "", t - timedelta(days=1)) == "OLD"  # re-issued: the holder then
    assert index.resolve("京AA1", "", t + timedelta(days=1)) == "NEW"
    assert index.resolve("京AA9", "乙医药", t) == "WHS-B"  # no such number: the one party of that name
    assert index.resolve("京AA9", "丙医药", t) is None
