"""Judging a batch and planning its flag changes: pure functions both engines call, without a database."""

from __future__ import annotations

from reconciler.judging import judge_codes, may_find
from reconciler.rules import CodeEvent
from reconciler.rules.model import Finding, Rule, Severity
from reconciler.store.sync import ExistingFlag, content_hash, flag_id, plan_sync
from tests.unit.test_rules import CODE, REF, SKEW, K, t


def _finding(kind: str, event: str = "s1", money: int = 100) -> Finding:
    return Finding(Rule.L, kind, Severity.HIGH, CODE, event, t(5), "P1", money_fen=money)


def _stored(f: Finding, status: str = "OPEN", *, same: bool = True) -> ExistingFlag:
    digest = content_hash(f) if same else b"older"
    return ExistingFlag(flag_id(f.identity), status, digest, f.rule.value, f.decisive_event_id, f.code)


def test_a_code_never_sold_is_not_judged_and_a_sold_one_is():
    received = [CodeEvent("r1", K.RECEIPT, "P1", t(0), "WHS")]
    sold_unreceived = [CodeEvent("s1", K.SALE, "Q", t(5), units=None)]
    assert not may_find(received) and may_find(sold_unreceived)
    other = CODE[:-1] + "2"
    judged = judge_codes([CODE, other], {CODE: received, other: sold_unreceived}, REF, SKEW)
    assert {f.code for f in judged.findings} == {other}  # the never-sold code yields nothing


def test_a_new_finding_is_new_an_unchanged_one_changes_nothing_and_a_changed_one_is_refreshed():
    kept, refreshed, fresh = _finding("NEVER_RECEIVED"), _finding("RECEIVED_ELSEWHERE", "s2"), _finding("X", "s3")
    plan = plan_sync([_stored(kept), _stored(refreshed, same=False)], [kept, refreshed, fresh], run_id=7)
    assert [fid for fid, _ in plan.new] == [flag_id(fresh.identity)]
    assert [fid for fid, _ in plan.changed] == [flag_id(refreshed.identity)]
    assert plan.gone == []


def test_a_flag_no_longer_found_is_resolved_with_the_reason_naming_its_successor():
    before, after, unrelated = _finding("NEVER_RECEIVED"), _finding("RECEIVED_AFTER_SALE"), _finding("X", "s9")
    plan = plan_sync([_stored(before), _stored(unrelated)], [after], run_id=7)
    reasons = dict(plan.gone)
    assert reasons[flag_id(before.identity)] == "run 7: later evidence changed the finding to RECEIVED_AFTER_SALE"
    assert reasons[flag_id(unrelated.identity)] == "run 7: the finding no longer holds on the events now known"


def test_a_resolved_flag_found_again_is_reopened_and_one_not_found_stays_resolved():
    back, gone = _finding("NEVER_RECEIVED"), _finding("X", "s9")
    plan = plan_sync([_stored(back, "RESOLVED"), _stored(gone, "RESOLVED")], [back], run_id=7)
    assert [fid for fid, _ in plan.changed] == [flag_id(back.identity)] and plan.gone == []
