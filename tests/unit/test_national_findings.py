"""National findings back in the provinces (issue 24), the pure parts: which provinces a finding concerns,
what importing one does to a province's flag, and how a province's own run treats a national flag."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconciler.rules.model import Finding, Rule, Severity
from reconciler.store.national import Decision, Local, NationalFinding, by_province, decide, local_status, provinces_of
from reconciler.store.sync import ExistingFlag, content_hash, flag_id, plan_sync

T0 = datetime(2026, 7, 2, 4, tzinfo=UTC)
REGIONS = {"IND-01": "110108", "KY-S1": "310101", "WHS-02": "120100", "MFR-01": "130100", "NOWHERE": ""}


def _finding(**changes) -> NationalFinding:
    chain = {
        "code": "C1",
        "active": True,
        "originals": [],
        "reentry": None,
        "resales": [],
        "buyer_tokens": [],
        "original_sellers": ["IND-01"],
        "reentry_party": "KY-S1",
        "reentry_supplier": "WHS-02",
        "resale_parties": ["KY-S1"],
        "money_fen": 100,
    }
    base = NationalFinding(
        "f1", "R", "REENTRY", "HIGH", "C1", "e1", T0, "KY-S1", "310101", json.dumps(["IND-01"]), "[]", 100, "",
        "00", None, "OPEN", T0, 7, T0, None, None, None, None, None, 7, json.dumps(chain),
    )  # fmt: skip
    return replace(base, **changes)


def test_a_finding_concerns_the_provinces_of_every_party_it_names_chain_included():
    assert provinces_of(_finding(), REGIONS) == {"11", "31", "12"}
    lone = _finding(related_parties="[]", chain=None)
    assert provinces_of(lone, REGIONS) == {"31"}
    assert provinces_of(_finding(subject_party="NOWHERE", related_parties="[]", chain=None), REGIONS) == set()


def test_findings_go_to_each_province_they_concern_and_the_unplaced_are_counted():
    routed, unplaced = by_province([_finding(), _finding(flag_id="f2", subject_party="GHOST", chain=None)], REGIONS)
    assert {p: [f.flag_id for f in v] for p, v in routed.items()} == {
        "11": ["f1", "f2"],
        "12": ["f1"],
        "31": ["f1"],
    }
    assert unplaced == 0  # f2 names IND-01 among its related parties
    _, unplaced = by_province([_finding(subject_party="GHOST", related_parties="[]", chain=None)], REGIONS)
    assert unplaced == 1


def test_importing_a_finding_inserts_refreshes_resolves_and_never_rolls_back():
    later = T0 + timedelta(days=1)
    assert decide(None, "OPEN", T0) is Decision.NEW
    national = Local("NATIONAL", "OPEN", T0)
    assert decide(national, "OPEN", T0) is Decision.UNCHANGED  # the same day again
    assert decide(national._replace(national_updated_at=later), "RESOLVED", T0) is Decision.UNCHANGED  # an older day
    assert decide(national, "RESOLVED", later) is Decision.RESOLVE
    assert decide(national, "OPEN", later) is Decision.REFRESH
    assert decide(national._replace(status="RESOLVED"), "OPEN", later) is Decision.REFRESH  # reopened
    assert decide(Local("LOCAL", "OPEN", None), "OPEN", later) is Decision.LOCAL
    for review in ("CONFIRMED", "DISMISSED"):  # the province's review of its own flag: left alone
        assert decide(Local("LOCAL", review, None), "OPEN", later) is Decision.LOCAL
    # the province's run resolved it (it lacks the other provinces' events); the nation still finds it
    assert decide(Local("LOCAL", "RESOLVED", None), "OPEN", later) is Decision.REOPEN
    assert decide(Local("LOCAL", "RESOLVED", None), "RESOLVED", later) is Decision.LOCAL
    # … unless the province has seen a newer national state of it (an older day imported late)
    assert decide(Local("LOCAL", "RESOLVED", later), "OPEN", T0) is Decision.LOCAL
    assert decide(Local("LOCAL", "RESOLVED", T0), "OPEN", later) is Decision.REOPEN
    assert local_status(Local("LOCAL", "RESOLVED", None), "OPEN") == "OPEN"


def test_a_province_review_survives_and_otherwise_the_national_verdict_is_taken():
    assert local_status(None, "RESOLVED") == "RESOLVED"
    assert local_status(None, "CONFIRMED") == "OPEN"  # a national reviewer's decision is not the province's
    assert local_status(Local("NATIONAL", "RESOLVED", T0), "OPEN") == "OPEN"
    for review in ("CONFIRMED", "DISMISSED"):
        assert local_status(Local("NATIONAL", review, T0), "RESOLVED") == review
        assert decide(Local("NATIONAL", review, T0), "RESOLVED", T0 + timedelta(1)) is Decision.REFRESH


def _local_finding(kind: str = "REENTRY") -> Finding:
    return Finding(Rule.R, kind, Severity.HIGH, "C1", "e1", T0, "KY-S1", money_fen=100)


def _stored(f: Finding, origin: str, status: str = "OPEN") -> ExistingFlag:
    return ExistingFlag(flag_id(f.identity), status, content_hash(f), f.rule.value, f.decisive_event_id, f.code, origin)


def test_a_provinces_own_run_never_resolves_a_national_flag_but_takes_it_over_when_it_finds_it():
    national = _local_finding()
    plan = plan_sync([_stored(national, "NATIONAL")], [], run_id=3)
    assert plan.gone == [] and plan.new == [] and plan.changed == []
    # the same identity found from the province's own events: the flag becomes the province's (refreshed)
    plan = plan_sync([_stored(national, "NATIONAL")], [national], run_id=3)
    assert [fid for fid, _ in plan.changed] == [flag_id(national.identity)] and plan.new == []
    # a LOCAL flag unchanged is left alone, and resolved when no longer found
    assert plan_sync([_stored(national, "LOCAL")], [national], run_id=3).changed == []
    assert [fid for fid, _ in plan_sync([_stored(national, "LOCAL")], [], run_id=3).gone] == [
        flag_id(national.identity)
    ]
