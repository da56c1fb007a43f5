"""Trace-code parsing (DESIGN §3), with property-based checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracesvc.domain import codes
from tracesvc.domain.codes import GS, CodeError, CodeScheme, CommodityBarcode, TraceCode

digits = st.text("0123456789", min_size=1, max_size=1)
serial_chars = st.text("0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdef", min_size=1, max_size=20)


def gtin_strategy():
    return st.text("0123456789", min_size=13, max_size=13).map(lambda b: b + str(codes.gs1_check_digit(b)))


@given(st.text("0123456789", min_size=19, max_size=19))
def test_msfx_code_round_trips_and_names_its_prefix(rest):
    raw = "8" + rest
    parsed = codes.parse(raw)
    assert isinstance(parsed, TraceCode)
    assert parsed.canonical == raw
    assert parsed.scheme is CodeScheme.MSFX
    assert parsed.product_key == raw[:7]
    assert codes.parse(f"  {raw[:10]} {raw[10:]}\n").canonical == raw  # printed with a space, scanned with a newline


@given(st.text("0123456789", min_size=20, max_size=20).filter(lambda s: s[0] != "8"))
def test_twenty_digits_not_starting_with_8_are_rejected(raw):
    if raw.startswith("01") and raw[16:18] in ("21", "17", "10") and codes.gs1_check_ok(raw[2:16]):
        return  # that is a raw GS1 string, tested below
    with pytest.raises(CodeError, match="start with 8"):
        codes.parse(raw)


@given(
    gtin_strategy(),
    serial_chars,
    st.dates().filter(lambda d: 2000 <= d.year < 2050),
    st.text("ABC123", min_size=1, max_size=8),
)
def test_gs1_human_and_raw_forms_are_the_same_code(gtin, serial, expiry, batch):
    yymmdd = expiry.strftime("%y%m%d")
    human = f"(01){gtin}(17){yymmdd}(10){batch}(21){serial}"
    raw = f"]d201{gtin}17{yymmdd}10{batch}{GS}21{serial}"
    a, b = codes.parse(human), codes.parse(raw)
    assert isinstance(a, TraceCode) and isinstance(b, TraceCode)
    assert a.canonical == b.canonical == f"(01){gtin}(21){serial}"
    assert a.product_key == gtin and a.serial == serial
    assert a.batch == b.batch == batch
    assert a.expiry == b.expiry == expiry
    assert codes.parse(a.canonical).canonical == a.canonical  # canonical form parses to itself


@given(gtin_strategy(), st.integers(1, 9), serial_chars)
def test_gs1_gtin_with_a_wrong_check_digit_is_rejected(gtin, delta, serial):
    bad = gtin[:-1] + str((int(gtin[-1]) + delta) % 10)
    with pytest.raises(CodeError, match="check digit"):
        codes.parse(f"(01){bad}(21){serial}")


def test_gs1_without_serial_is_not_a_trace_code():
    gtin = "0690000000001" + str(codes.gs1_check_digit("0690000000001"))
    with pytest.raises(CodeError, match="no \\(21\\) serial"):
        codes.parse(f"(01){gtin}(17)281231")


def test_gs1_day_zero_means_last_day_of_month():
    gtin = "0690000000001" + str(codes.gs1_check_digit("0690000000001"))
    parsed = codes.parse(f"(01){gtin}(17)280200(21)X1")
    assert parsed.expiry.isoformat() == "2028-02-29"


@given(st.text("0123456789", min_size=12, max_size=12))
def test_ean13_commodity_barcodes_are_not_trace_codes(body):
    ean = body + str(codes.gs1_check_digit(body))
    parsed = codes.parse(ean)
    assert isinstance(parsed, CommodityBarcode) and parsed.kind == "EAN-13"
    with pytest.raises(CodeError, match="commodity barcode"):
        codes.parse_trace(ean)


def test_national_drug_code_is_not_a_trace_code():
    parsed = codes.parse("86900001000012")
    assert isinstance(parsed, CommodityBarcode) and parsed.kind == "NATIONAL_DRUG_CODE"


def test_manufacturer_codes_need_a_registered_prefix():
    with pytest.raises(CodeError, match="no registered manufacturer prefix"):
        codes.parse("HZMF20261122A0001")
    parsed = codes.parse("hzmf20261122a0001", frozenset({"HZMF", "HZ"}))
    assert isinstance(parsed, TraceCode)
    assert parsed.canonical == "HZMF20261122A0001"
    assert parsed.product_key == "HZMF"  # the longest registered prefix wins


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("860000100000000001", "18 digits"),
        ("86000010000000000012345", "digits"),
        ("8600001000000000001!", "not a trace code"),
        ("(01)123(21)X", "14 digits"),
        ("(99)1234(21)X", "no \\(01\\)"),
    ],
)
def test_malformed_values_name_the_reason(raw, reason):
    with pytest.raises(CodeError, match=reason) as info:
        codes.parse(raw)
    assert info.value.value == raw


@given(st.text(max_size=60))
def test_parse_never_fails_other_than_with_code_error(raw):
    try:
        result = codes.parse(raw, frozenset({"HZMF"}))
    except CodeError:
        return
    # whatever parses has a canonical form that parses to itself
    assert codes.parse(result.canonical, frozenset({"HZMF"})).canonical == result.canonical
