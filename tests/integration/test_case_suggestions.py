"""Issue 23: suggestions put rings first, take the returning buyer's own B flags into the ring, say how
each member is linked, and never offer one flag twice — through gRPC and `tracesvc case suggest`."""

from __future__ import annotations

from tests import builders as b
from tests.integration.test_buyer_suspects_and_evidence import token
from tests.integration.test_cases import enf
from tests.integration.test_cli import cli
from tests.integration.test_reconcile_runs import send, whs_supply
from tests.integration.test_rule_b_runs import DAY, _seed, _World
from tests.reconcile_helpers import run
from tracesvc import client
from tracesvc.v1 import enforcement_pb2 as en

FARMER = "110101197001010088"  # the 药农: two boxes came back, and three pharmacies in three days


async def _ring_with_a_busy_buyer(service) -> None:
    await _seed(service)
    events = []
    for n in (1, 2):
        c = b.code(b.STATIN, 7100 + n)
        events += [
            whs_supply(c),
            ("receipt", b.receipt(f"ring-r{n}", [c], party="P1", supplier="WHS1", minutes=0)),
            ("sale", b.sale(f"ring-s{n}", [(c, None)], party="P1", minutes=60, buyer=FARMER)),
            ("receipt", b.receipt(f"ring-back{n}", [c], party="P2", supplier="DEALER", minutes=2000)),
            ("sale", b.sale(f"ring-re{n}", [(c, None)], party="P2", minutes=2100, buyer=f"11010119700101990{n}")),
        ]
    await send(service, *events)
    w = _World(0)
    t = -20 * DAY
    for k, party in enumerate(["P1", "P2", "P3"]):
        w.sale(FARMER, party, t + k * DAY)
    acks = await client.stream_events(service.channel, w.events)
    assert all(a.status == 1 for a in acks)
    await run(service.engine)


async def test_rings_first_with_their_buyers_b_flags_and_each_members_link(service):
    await _ring_with_a_busy_buyer(service)
    stub = enf(service)
    farmer = token(FARMER)
    b_flags = (await stub.ListFlags(en.ListFlagsRequest(rule="B", buyer_token=farmer))).flags
    assert b_flags and "MULTI_PHARMACY" in {f.kind for f in b_flags}
    found = (await stub.SuggestCases(en.SuggestCasesRequest(min_flags=2))).suggestions
    assert found[0].basis == "RING"
    bases = [s.basis for s in found]
    assert bases == sorted(bases, key=lambda x: x != "RING")  # every ring before any other group
    ring = found[0]
    assert {f.flag_id for f in b_flags} <= set(ring.flag_ids)  # the 药农's own B flags are in the ring
    assert ring.chains == 2 and list(ring.buyer_tokens) == [farmer]
    links = {lk.flag_id: lk for lk in ring.links}
    assert set(links) == set(ring.flag_ids)  # every member says how it is linked
    r_flags = [f for f in (await stub.ListFlags(en.ListFlagsRequest(rule="R"))).flags]
    for f in r_flags:
        assert (links[f.flag_id].code, links[f.flag_id].buyer_token, links[f.flag_id].supplier_id) == (
            f.code,
            farmer,
            "DEALER",
        )
    for f in b_flags:
        assert links[f.flag_id].buyer_token == farmer and links[f.flag_id].code == ""
    others = [lk for lk in ring.links if lk.rule == "L"]
    assert others and all(lk.buyer_token == "" and "same box" in lk.why for lk in others)  # by the box alone
    # no flag place repeats across suggestions
    places = [f for s in found for f in s.flag_ids]
    assert len(places) == len(set(places))
    # the proposal names the suspects, not the pharmacy that innocently sold to the 药农 first
    assert "P1" in ring.parties and set(ring.proposal.subject_parties) == {"DEALER", "P2"}
    shown = await cli("case", "suggest", "--min-flags", "2", "--links", "--target", service.target)
    assert shown.returncode == 0, shown.stderr
    assert "  1. RING" in shown.stdout and "回流团伙 ring" in shown.stdout and "its own chain" in shown.stdout
    assert "the returning buyer's own flag" in shown.stdout
