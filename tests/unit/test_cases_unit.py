"""Cases without a database: the status workflow, suggested-case grouping, digests, exports, policy."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.rules.model import ChainEntry, ChainSale
from tracesvc.documents import exports
from tracesvc.domain.events import EventKind
from tracesvc.service import casefile
from tracesvc.service.cases import TRANSITIONS, CaseStatus, clean_text, transition_refusal
from tracesvc.service.errors import InvalidArgument
from tracesvc.service.suggest import money_at_risk, ring_components, suggest
from tracesvc.store.cases import StandingFlag
from tracesvc.store.findings import ChainRow
from tracesvc.v1 import enforcement_pb2 as en


def test_the_workflow_allows_only_its_transitions():
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert (CaseStatus.OPEN, CaseStatus.INVESTIGATING) in allowed
    assert (CaseStatus.INVESTIGATING, CaseStatus.ESCALATED) in allowed
    assert (CaseStatus.ESCALATED, CaseStatus.CLOSED_CONFIRMED) in allowed
    for a in CaseStatus:
        for b in CaseStatus:
            refusal = transition_refusal(a, b)
            assert (refusal is None) == ((a, b) in allowed), (a, b)
    assert "final" in (transition_refusal("CLOSED_DISMISSED", "OPEN") or "")
    assert transition_refusal("OPEN", "CLOSED_CONFIRMED") is not None  # confirmed only after an investigation
    assert "unknown" in (transition_refusal("OPEN", "NOPE") or "")


def test_reasons_and_texts_are_checked():
    with pytest.raises(InvalidArgument) as info:
        clean_text("   ", "reason", required=True)
    assert info.value.violations[0].field == "reason"
    with pytest.raises(InvalidArgument):
        clean_text("a\x00b", "reason")
    with pytest.raises(InvalidArgument):
        clean_text("x" * 3000, "reason")
    assert clean_text("  两行\n说明 ", "reason") == "两行\n说明"


def _flag(
    fid: str, code: str, event: str, money: int, *, party: str = "P2", rule: str = "R", kind: str = "REENTRY"
) -> StandingFlag:
    return StandingFlag(fid, rule, kind, code, event, party, "110108", money)


def _chain(fid: str, code: str, buyer: str, supplier: str | None) -> ChainRow:
    at = datetime(2026, 10, 1, 8, tzinfo=UTC)
    sale = ChainSale(f"s-{code}", "P1", at, buyer, 2000, 28)
    entry = ChainEntry(f"r-{code}", EventKind.RECEIPT, "P2", supplier, at + timedelta(days=1)) if supplier else None
    return ChainRow(fid, code, True, 2000, (sale,), entry, ())


def test_rings_are_connected_components_over_buyers_suppliers_and_codes():
    chains = [
        _chain("a", "c1", "buyer1", "DEALER"),
        _chain("b", "c2", "buyer2", "DEALER"),  # one dealer
        _chain("c", "c3", "buyer2", None),  # the same 药农 as b
        _chain("d", "c3", "buyer9", None),  # the same box as c
        _chain("e", "c9", "buyer7", "OTHER"),
    ]  # unrelated
    groups = sorted(sorted(c.flag_id for c in g) for g in ring_components(chains))
    assert groups == [["a", "b", "c", "d"], ["e"]]


def test_suggestions_rank_by_money_and_drop_groups_already_covered():
    flags = [
        _flag("r1", "c1", "back1", 2000),
        _flag("r2", "c2", "back2", 2000),
        _flag("d1", "c1", "re1", 2000, rule="D", kind="CROSS_PARTY"),
        _flag("l1", "c1", "re1", 1500, rule="L", kind="UNLICENSED_SUPPLIER"),
        *[_flag(f"s{n}", f"X{n}", f"sale{n}", 100, party="P7", rule="S", kind="NON_DRUG") for n in range(4)],
    ]
    chains = [
        _chain("r1", "c1", "buyer1", "DEALER"),
        _chain("r2", "c2", "buyer1", "DEALER"),
        _chain("gone", "c5", "buyer1", "DEALER"),
    ]  # its flag is not standing: left out
    out = suggest(flags, chains, [("c1", "B1"), ("c2", "B1")], lambda c: "8600001", min_flags=3)
    assert [s.basis for s in out] == ["RING", "PHARMACY"]  # the batch group sits inside the ring
    ring = out[0]
    assert ring.flag_ids == ("d1", "l1", "r1", "r2") and ring.chain_ids == ("r1", "r2")
    assert ring.money_fen == 6000  # re1 counted once, at its largest flag
    assert out[1].key == "P7" and out[1].money_fen == 400
    assert money_at_risk(flags[:4]) == 6000


def test_digests_are_canonical_and_files_verify():
    when = datetime(2026, 10, 1, tzinfo=UTC)
    a = casefile.digest({"b": 1, "a": "回流", "t": when})
    assert a == casefile.digest({"t": when, "a": "回流", "b": 1})
    assert a != casefile.digest({"t": when, "a": "回流", "b": 2})
    pdf = b"%PDF-1.7 pretend"
    import hashlib

    good = hashlib.sha256(pdf).hexdigest()
    assert casefile.verify_file(pdf, good, len(pdf)) == []
    assert len(casefile.verify_file(pdf + b"x", good, len(pdf))) == 2
    entries = [casefile.ManifestEntry("flag", "f1", "aa"), casefile.ManifestEntry("event", "e1", "bb")]
    assert casefile.compare(entries, {("flag", "f1"): "aa", ("event", "e1"): "bb"}, {}) == []
    problems = casefile.compare(entries, {("flag", "f1"): "cc"}, {})
    assert problems == ["flag f1: digest now cc, manifest says aa", "event e1: no longer in the store"]


def test_csv_export_streams_rows_and_defuses_formulas():
    async def items():
        yield en.Flag(flag_id="f1", rule="R", kind="REENTRY", money_fen=1234, detail="=cmd|' /C calc'!A0")
        yield en.Flag(flag_id="f2", rule="S", kind="NON_DRUG", severity=en.SEVERITY_HIGH, origin="NATIONAL")

    out = io.StringIO()
    assert asyncio.run(exports.write_rows(items(), exports.FLAG_COLUMNS, "csv", out)) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["money_yuan"] == "12.34" and rows[0]["detail"].startswith("'=")
    assert rows[1]["severity"] == "HIGH"
    assert [(r["origin"], r["origin_zh"]) for r in rows] == [
        ("LOCAL", "本省 This province"),
        ("NATIONAL", "全国核查 National"),
    ]
    assert list(rows[0])[-2:] == ["origin", "origin_zh"]  # appended: earlier columns keep their places
    with pytest.raises(ValueError):
        asyncio.run(exports.write_rows(items(), exports.FLAG_COLUMNS, "pdf", out))


def test_every_enforcement_method_has_a_policy_entry():
    from tracesvc.service.access import POLICY, Role

    methods = en.DESCRIPTOR.services_by_name["EnforcementService"].methods_by_name
    assert {f"/tracesvc.v1.EnforcementService/{m}" for m in methods} <= set(POLICY)
    for m in ("CreateCase", "UpdateCase", "GetCase", "ExportCase", "SuggestCases"):
        assert POLICY[f"/tracesvc.v1.EnforcementService/{m}"] == {Role.INSPECTOR, Role.REGULATOR}


def test_flags_of_one_batch_across_codes_are_suggested_together():
    flags = [_flag(f"l{n}", f"c{n}", f"sale{n}", 500, party=f"P{n}", rule="L", kind="NEVER_RECEIVED") for n in range(3)]
    out = suggest(
        flags, [], [("c0", "LOT7"), ("c1", "LOT7"), ("c2", "LOT7"), ("c2", "LOT8")], lambda c: "8600001", min_flags=3
    )
    assert [(s.basis, s.key, s.flag_ids, s.money_fen) for s in out] == [
        ("BATCH", "8600001/LOT7", ("l0", "l1", "l2"), 1500)
    ]


def test_overlapping_suggestions_fold_into_the_strongest_and_rings_come_first():
    flags = [
        _flag("r1", "c1", "back1", 2000),
        _flag("r2", "c2", "back2", 2000),
        _flag("r7", "c7", "back7", 2000),  # a third re-entry at P2, on a box of no ring
        *[_flag(f"s{n}", f"X{n}", f"sale{n}", 9000, party="P7", rule="S", kind="NON_DRUG") for n in range(3)],
        StandingFlag("b1", "B", "OVER_SUPPLY", "XC10AAA001", "sale-b1", "P3", "110108", 1400, "buyer1"),
        StandingFlag("b9", "B", "OVER_SUPPLY", "XC10AAA001", "sale-b9", "P3", "110108", 1400, "buyer9"),
    ]
    chains = [_chain("r1", "c1", "buyer1", "DEALER"), _chain("r2", "c2", "buyer1", "DEALER")]
    out = suggest(flags, chains, [], lambda c: "8600001", min_flags=3)
    # the ring first although the S pattern is worth more; P2's REENTRY pattern (r1, r2, r7) lost r1 and r2
    # to the ring and is gone; the returning buyer's B flag is in the ring, another buyer's is not
    assert [(s.basis, s.key) for s in out] == [("RING", "DEALER"), ("PHARMACY", "P7")]
    ring = out[0]
    assert ring.flag_ids == ("b1", "r1", "r2") and ring.boxes == 2 and ring.suspects == ("DEALER", "P2")
    assert "P1" in ring.parties and "P1" not in ring.suspects  # the innocent seller is no subject
    links = {lk.flag_id: lk for lk in ring.links}
    assert (links["r1"].code, links["r1"].buyer_token, links["r1"].supplier_id) == ("c1", "buyer1", "DEALER")
    assert links["b1"].buyer_token == "buyer1" and "returning buyer" in links["b1"].why
    seen = [f for s in out for f in s.flag_ids]
    assert len(seen) == len(set(seen))  # no flag in two suggestions


def test_a_case_file_keeps_apostrophes_and_quotes_as_typed():
    from tracesvc.documents.casefile import _keep_tokens

    shown = _keep_tokens("药店 O'Brien's \"A&B\" <IND-02>")
    assert "&#x27;" not in shown and "x27" not in shown
    assert "O'Brien's" in shown and "&amp;" in shown and "&lt;" in shown and "IND-02" in shown


def test_case_files_exported_before_case_numbers_still_verify():
    """Manifests from before migration 0011 digest a log line and a case over their fields of then, and
    name a line by its global sequence: an unchanged line and case must give those digests still."""
    import hashlib
    import json
    from datetime import UTC, datetime

    from tracesvc.service import casefile
    from tracesvc.store.cases import CaseRow, LogRow

    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    old_line = dict(
        log_seq=57, case_id="CASE-1", at=at, actor="k1", role="INSPECTOR", action="CREATED",
        from_status=None, to_status="OPEN", reason="r", detail="",
    )  # fmt: skip
    old_case = dict(
        case_seq=1, case_id="CASE-1", title="t", subject_parties=("P1",), region="110105", assignee="a",
        status="OPEN", created_by="k1", created_at=at, updated_at=at, flag_count=2, money_fen=100,
    )  # fmt: skip

    def then(form: dict) -> str:  # the digest as the release before computed it
        return hashlib.sha256(
            json.dumps(form, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
        ).hexdigest()

    line = LogRow(**old_line, case_no=3)  # the migration numbered it; no officer was bound
    assert casefile.log_digest(line) == casefile.digest(old_line) == then({**old_line, "at": at.isoformat()})
    assert casefile.case_digest(CaseRow(**old_case)) == casefile.digest(old_case)
    # a line written by a named officer is digested with the name, and is cited as the file shows it
    named = LogRow(**old_line, case_no=3, actor_name="张三", actor_cert="11010020230001")
    assert casefile.log_digest(named) != casefile.log_digest(line) and casefile.log_id(named) == "#3"
