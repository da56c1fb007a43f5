"""Input hygiene (DESIGN §8): ASCII digits only, bounded messages, checked timestamps and tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracesvc.api import hygiene as api_hygiene
from tracesvc.domain import codes, hygiene
from tracesvc.domain.events import InvalidEvent, Item
from tracesvc.service import paging
from tracesvc.v1 import enforcement_pb2 as enf
from tracesvc.v1 import events_pb2 as ev


@pytest.mark.parametrize(
    "raw",
    [
        "8" + "²" * 19,  # superscript digits: isdigit() is True, int() fails
        "8" + "１" * 19,  # full-width digits: int() works, yet not the pack's printed code
        "(01)06900000000012(17)AB0101(21)SN1",  # a GS1 date that is no digits at all
        "(01)０６９００００００００１２(21)SN1",
        "8600001" + "0" * 12 + "\x00",
        "8" * 100_000,
    ],
)
def test_non_ascii_digits_and_hostile_codes_are_refused_with_a_short_reason(raw):
    with pytest.raises(codes.CodeError) as info:
        codes.parse(raw)
    assert len(str(info.value)) < 200


def test_a_normal_code_still_parses():
    assert codes.parse("86000010000000000001").canonical == "86000010000000000001"


def test_quote_keeps_a_short_prefix():
    q = hygiene.quote("x" * 100_000)
    assert len(q) < 64 and "100000 chars" in q
    assert hygiene.quote("P1") == "'P1'"


def test_timestamps_out_of_years_1_to_9999_are_refused():
    assert hygiene.timestamp_problem(10**12, 0) is not None
    assert hygiene.timestamp_problem(0, -1) is not None
    assert hygiene.timestamp_problem(0, 10**9) is not None
    assert hygiene.datetime_of(0, 0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert hygiene.datetime_of(hygiene.MAX_SECONDS + 1, 0) is None


def test_request_walker_names_the_field_of_every_problem():
    req = enf.ListFlagsRequest(party_id="P\x001", page_token="t" * 10_000, code="(01)x\x1d21y")
    req.occurred_from.seconds = 10**13
    found = {v.field: v.description for v in api_hygiene.violations(req)}
    assert set(found) == {"party_id", "page_token", "occurred_from"}
    assert "U+0000" in found["party_id"]


def test_the_walker_descends_into_repeated_messages():
    sale = ev.Sale(lines=[ev.SaleLine(scanned=[ev.ScannedCode(code="a" * 300)])])
    assert [v.field for v in api_hygiene.violations(sale)] == ["lines[0].scanned[0].code"]


@pytest.mark.parametrize(
    "token",
    [
        paging.encode("flag", "abc"),
        paging.encode("flag", "9" * 30),
        paging.encode("run", "-1"),
        paging.encode("flag", "１２"),
        paging.encode("run", 5),  # another method's token
        "!!!",
        "A" * 1000,
    ],
)
def test_page_tokens_are_verified_strictly(token):
    assert paging.decode("flag", token) is None


def test_a_page_token_round_trips():
    assert paging.decode("flag", paging.encode("flag", 42)) == "42"
    assert paging.decode("chain", paging.encode("chain", "f-1")) == "f-1"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("", hygiene.ID),
        ("P1", hygiene.ID),
        ("x" * 129, hygiene.ID),  # too long
        ("a\x00b", hygiene.ID),
        ("a\x7fb", hygiene.SHORT),
        ("a\x85b", hygiene.SHORT),  # C1 control
        ("\ud800", hygiene.NAME),  # lone surrogate
        ("(01)0690000000001\x1d21SN", hygiene.CODE),  # GS is allowed in a code (slow path)
        ("(01)0690000000001\x1d21SN", hygiene.SHORT),  # and nowhere else
        ("药品 追溯码", hygiene.NAME),  # clean but not ASCII: the slow path decides
        ("\ufffe", hygiene.NAME),
    ],
)
def test_the_one_pass_check_never_passes_a_value_the_field_by_field_check_refuses(value, kind):
    refused = hygiene.text_problem(value, kind) is not None
    passed = hygiene.all_clean([(["ok", value, "ok"], kind)])
    assert not (refused and passed)
    if value.isascii() and value.isprintable():
        assert passed is not refused  # plain ASCII is decided in one pass, exactly


def test_a_bad_value_among_many_items_is_still_named_by_its_field():
    from tests.unit.test_events_domain import fields, normalize, receipt  # noqa: PLC0415

    items = tuple(Item(f"8600001{n:013d}", batch="B1") for n in range(500))
    bad = items[:321] + (Item(items[321].code, batch="B\x00"),) + items[322:]
    with pytest.raises(InvalidEvent) as info:
        normalize(receipt(items=bad))
    assert set(fields(info)) == {"items[321].batch"}
    assert normalize(receipt(items=items)).items == items  # and 500 clean ones pass


def test_printable_text_is_never_a_character_any_kind_refuses():
    """The fast path of `text_problem` and `all_clean` trusts str.isprintable(): every printable code
    point must pass every kind's own check (so Chinese item names need not be checked one by one)."""
    import sys

    from tracesvc.domain import hygiene as h

    printable = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable())
    for pattern in (h._CONTROL, h._CONTROL_BUT_GS, h._CONTROL_BUT_LINES, h._SURROGATE):
        assert pattern.search(printable) is None, pattern.pattern
    assert h.all_clean([(["阿莫西林胶囊 0.25g×24粒", "XC10AAA001"], h.NAME)])
    assert not h.all_clean([(["阿莫西林\x85胶囊"], h.NAME)])  # NEL, a C1 control
    assert h.text_problem("阿莫西林\ud800", h.NAME) == "lone surrogate characters are not allowed"
