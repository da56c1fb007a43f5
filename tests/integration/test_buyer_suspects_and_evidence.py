"""Rule B beside return chains: RankSuspects ranks buyers by both and says why; ExportEvidence and the HTML
report show a B flag's purchase timeline (when, where, what, how much) and, for CARD_TRAVEL, the two places
and the time between them — the buyer by token only."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import builders as b
from tests.integration.test_reconcile_runs import send, whs_supply
from tests.integration.test_report import CHROMIUM, FLAGS
from tests.integration.test_rule_b_runs import DAY, KEY, _seed, _World
from tests.reconcile_helpers import run
from tracesvc import client
from tracesvc.documents import report
from tracesvc.domain import privacy
from tracesvc.service.cases import Cases
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc

RING, OVER, TRAVEL, MULTI = (f"11010119700101{n:04d}" for n in (9001, 9002, 9003, 9004))


def token(number: str) -> str:
    return privacy.buyer_token(KEY, number)


async def _story(service) -> _World:
    """RING: one box of theirs came back (an R and a D chain). OVER: eight packs of a one-a-day drug in eight days
    (four OVER_SUPPLY), and one more bought and refunded in between. TRAVEL: Beijing P1, Beijing P2, then Shanghai
    an hour later (MULTI_PHARMACY and CARD_TRAVEL on one sale). MULTI: three Beijing pharmacies in three days."""
    await _seed(service)
    c = b.code(b.STATIN, 7001)
    await send(
        service,
        whs_supply(c),
        ("receipt", b.receipt("r-ring", [c], party="P1", supplier="WHS1", minutes=0)),
        ("sale", b.sale("s-ring", [(c, None)], party="P1", minutes=60, buyer=RING)),
        ("receipt", b.receipt("back-ring", [c], party="P2", supplier="DEALER", minutes=2000)),
        ("sale", b.sale("re-ring", [(c, None)], party="P2", minutes=2100, buyer="110101197001019999")),
    )
    w = _World(0)
    t = -30 * DAY
    for k in range(8):
        w.sale(OVER, "P1", t + k * DAY)
    w.refund(w.sale(OVER, "P2", t + 3.5 * DAY), "P2", t + 3.6 * DAY)
    w.sale(TRAVEL, "P1", t)
    w.sale(TRAVEL, "P2", t + DAY)
    w.sale(TRAVEL, "SH1", t + DAY + 60)
    for k, party in enumerate(["P1", "P2", "P3"]):
        w.sale(MULTI, party, t + 10 * DAY + k * DAY)
    acks = await client.stream_events(service.channel, w.events)
    assert all(a.status == 1 for a in acks), [a.error.message for a in acks if a.status != 1]
    await run(service.engine)
    return w


def _stub(service) -> enforcement_pb2_grpc.EnforcementServiceStub:
    return enforcement_pb2_grpc.EnforcementServiceStub(service.channel)


async def _flag(service, number: str, kind: str) -> en.Flag:
    flags = (await _stub(service).ListFlags(en.ListFlagsRequest(rule="B", kind=kind, buyer_token=token(number)))).flags
    assert len(flags) == 1, flags
    return flags[0]


async def test_buyers_rank_by_chains_and_b_flags_and_say_why(service):
    await _story(service)
    stub = _stub(service)
    ranked = (await stub.RankSuspects(en.RankSuspectsRequest(role=en.SUSPECT_ROLE_BUYER))).suspects
    mine = {token(n): n for n in (RING, OVER, TRAVEL, MULTI)}
    got = [(mine[s.id], s.score) for s in ranked if s.id in mine]
    # four HIGH B flags (8) outrank two chains (6); a chain-less B buyer ranks by its flags alone
    assert got == [(OVER, 8), (RING, 6), (TRAVEL, 3), (MULTI, 1)]
    by = {mine[s.id]: s for s in ranked if s.id in mine}
    assert dict(by[OVER].b_flags) == {"OVER_SUPPLY": 4} and by[OVER].chains == 0
    assert by[OVER].b_money_fen == 4 * 2000
    assert by[OVER].reason == "B: 4 条 超量购药 OVER_SUPPLY × 2 (¥80.00) = 8 / B: 4 OVER_SUPPLY × 2 (¥80.00) = 8"
    assert (by[RING].chains, by[RING].codes, by[RING].money_fen, dict(by[RING].b_flags)) == (2, 1, 4000, {})
    assert by[RING].reason == "2 条回流链（1 个码，¥40.00） × 3 = 6 / 2 return chains (1 codes, ¥40.00) × 3 = 6"
    # one sale decided both a CARD_TRAVEL (all of the sale) and a MULTI_PHARMACY (its drug): its money counts once
    assert dict(by[TRAVEL].b_flags) == {"CARD_TRAVEL": 1, "MULTI_PHARMACY": 1} and by[TRAVEL].b_money_fen == 2000
    assert by[TRAVEL].reason.endswith(" / B: 1 CARD_TRAVEL × 2, 1 MULTI_PHARMACY × 1 (¥20.00) = 3")
    assert by[TRAVEL].reason.startswith("B: 1 条 异地同时刷卡 CARD_TRAVEL × 2，1 条 多店购药 MULTI_PHARMACY × 1")

    # a dismissed flag no longer counts; suppliers are still ranked by chains alone
    multi = await _flag(service, MULTI, "MULTI_PHARMACY")
    await stub.ReviewFlag(
        en.ReviewFlagRequest(flag_id=multi.flag_id, decision=en.REVIEW_DECISION_DISMISS, note="one prescription each")
    )
    ranked = (await stub.RankSuspects(en.RankSuspectsRequest(role=en.SUSPECT_ROLE_BUYER))).suspects
    assert token(MULTI) not in {s.id for s in ranked}
    suppliers = (await stub.RankSuspects(en.RankSuspectsRequest(role=en.SUSPECT_ROLE_SUPPLIER))).suspects
    assert [(s.id, s.score, s.reason, dict(s.b_flags)) for s in suppliers] == [
        ("DEALER", 1, "1 条回流链（1 个码，¥20.00） / 1 return chain (1 codes, ¥20.00)", {})
    ]


async def _export(service, flag_id: str) -> list[en.ExportEvidenceResponse]:
    return [i async for i in _stub(service).ExportEvidence(en.ExportEvidenceRequest(flag_id=flag_id))]


async def test_evidence_of_a_card_travel_flag_holds_the_timeline_and_the_two_places(service):
    world = await _story(service)
    travel = await _flag(service, TRAVEL, "CARD_TRAVEL")
    items = await _export(service, travel.flag_id)
    purchases = [i.purchase for i in items if i.WhichOneof("item") == "purchase"]
    # from the flag's first evidence (the Beijing sale an hour before) to the decisive Shanghai sale
    assert [(p.party.party_id, p.party.region, p.evidence, p.decisive) for p in purchases] == [
        ("P2", "110108", True, False),
        ("SH1", "310101", True, True),
    ]
    assert all(p.buyer_token == token(TRAVEL) and p.flag_id == travel.flag_id for p in purchases)
    assert [(ln.insurance_code, ln.quantity, ln.split) for ln in purchases[1].lines] == [("XC10AAA001", 1, False)]
    assert (purchases[1].amount_fen, purchases[1].fund_paid_fen) == (3000, 2000)
    assert purchases[1].occurred_at == b.at(-30 * DAY + DAY + 60)
    (move,) = [i.travel for i in items if i.WhichOneof("item") == "travel"]
    assert (move.earlier_party.region, move.later_party.region, move.seconds_between) == ("110108", "310101", 3600)
    assert (move.earlier_event_id, move.later_event_id) == (purchases[0].event_id, travel.decisive_event_id)
    events = {i.event.sale.header.event_id for i in items if i.WhichOneof("item") == "event"}
    assert events == {purchases[0].event_id, travel.decisive_event_id}  # the evidence; no code history behind it
    wire = b"".join(i.SerializeToString() for i in items)
    for number in world.buyers + [RING, OVER, TRAVEL, MULTI]:
        assert number.encode() not in wire


async def test_an_over_supply_timeline_shows_every_sale_in_the_window_refunds_marked(service):
    await _story(service)
    flags = (
        await _stub(service).ListFlags(en.ListFlagsRequest(rule="B", kind="OVER_SUPPLY", buyer_token=token(OVER)))
    ).flags
    last = max(flags, key=lambda f: f.decisive_at.seconds)
    items = await _export(service, last.flag_id)
    purchases = [i.purchase for i in items if i.WhichOneof("item") == "purchase"]
    assert len(purchases) == 9 and not [i for i in items if i.WhichOneof("item") == "travel"]
    assert [p.occurred_at.seconds for p in purchases] == sorted(p.occurred_at.seconds for p in purchases)
    refunded = [p for p in purchases if p.refunded]
    assert [(p.party.party_id, p.evidence) for p in refunded] == [("P2", False)]  # shown, not counted
    assert sum(p.evidence for p in purchases) == 8 and purchases[-1].decisive
    # a party's evidence carries the timelines of the B flags it is subject of
    party_items = [i async for i in _stub(service).ExportEvidence(en.ExportEvidenceRequest(party_id="SH1"))]
    assert {i.purchase.flag_id for i in party_items if i.WhichOneof("item") == "purchase"} == {
        (await _flag(service, TRAVEL, "CARD_TRAVEL")).flag_id,
        (await _flag(service, TRAVEL, "MULTI_PHARMACY")).flag_id,
    }


async def test_the_report_of_a_card_travel_flag_shows_the_purchases_and_the_two_places(service):
    await _story(service)
    travel = await _flag(service, TRAVEL, "CARD_TRAVEL")
    html = await report.build(service.channel, (), flag_id=travel.flag_id)
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert html.count("<table class='purchases'>") == 1 and html.count("<table class='travel'>") == 1
    travel_table = html.split("<table class='travel'>")[1].split("</table>")[0]
    for text in ("P2 (region 110108)", "SH1 (region 310101)", "1 h 00 min"):
        assert text in travel_table, travel_table
    purchases = html.split("<table class='purchases'>")[1].split("</table>")[0]
    assert purchases.count("<tr class=") == 2 and "XC10AAA001" in purchases and "¥30.00" in purchases
    assert token(TRAVEL) in html and TRAVEL not in html


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs it)")
async def test_the_purchase_timeline_renders_in_headless_chromium(service, tmp_path: Path):
    await _story(service)
    html = await report.build(service.channel, (), flag_id=(await _flag(service, TRAVEL, "CARD_TRAVEL")).flag_id)
    page = tmp_path / "b.html"
    page.write_text(html, encoding="utf-8")
    dom = await asyncio.to_thread(
        subprocess.run,
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "1 h 00 min" in dom.stdout and dom.stdout.count("<tr class=") >= 2
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


async def test_a_case_file_holds_the_purchase_timeline_of_its_b_flags_buyers(service):
    """A case opened on a rule B flag alone: its dossier carries that buyer's purchases (by token)."""
    await _story(service)
    flag = await _flag(service, TRAVEL, "CARD_TRAVEL")
    stub = _stub(service)
    case = (
        await stub.CreateCase(
            en.CreateCaseRequest(
                title="卡贩子 card in two provinces",
                reason="a B finding to investigate",
                members=[en.CaseMemberRef(kind=en.CASE_MEMBER_KIND_FLAG, ref=flag.flag_id)],
            )
        )
    ).case
    dossier = await Cases(service.engine, RegistryCache(service.engine)).dossier(case.case_id, "test")
    timeline = dossier.buyer_timelines.get(token(TRAVEL), [])
    assert len(timeline) == 3  # Beijing, Beijing, then Shanghai an hour later
    assert TRAVEL not in repr(dossier)  # the buyer by token only
