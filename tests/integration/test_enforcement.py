"""An inspector's queries: a code's history, and the complete evidence behind a flag or a party."""

from __future__ import annotations

import grpc
import pytest

from tests import builders as b
from tests.integration.test_reconcile_api import ring
from tests.reconcile_helpers import run
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc


def enf(service):
    return enforcement_pb2_grpc.EnforcementServiceStub(service.channel)


async def test_code_history_is_the_timeline_with_parties_named(service):
    await ring(service)
    c = b.code(b.STATIN, 71)
    resp = await enf(service).GetCodeHistory(en.GetCodeHistoryRequest(code=f"{c[:10]} {c[10:]}"))
    assert resp.canonical_code == c and resp.product.name == "Atorvastatin"
    assert [(e.kind, e.event_id) for e in resp.entries] == [
        ("RECEIPT", f"whs-{c}"),
        ("RECEIPT", "r1"),
        ("SALE", "s1"),
        ("RECEIPT", "back1"),
        ("SALE", "re1"),
    ]
    back = resp.entries[3]
    assert (back.party.party_id, back.party.kind, back.party.region) == ("P2", "PHARMACY", "110108")
    assert back.counterparty.party_id == "DEALER" and back.counterparty.kind == ""  # unknown to the registry
    sale = resp.entries[2]
    assert sale.whole_pack and len(sale.buyer_token) == 64 and sale.sale_id == "S-s1"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await enf(service).GetCodeHistory(en.GetCodeHistoryRequest(code="garbage"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_export_evidence_for_a_flag_is_complete(service):
    await ring(service)
    await run(service.engine)
    flags = (await enf(service).ListFlags(en.ListFlagsRequest(rule="R"))).flags
    flag = next(f for f in flags if f.decisive_event_id == "back1")
    items = [i async for i in enf(service).ExportEvidence(en.ExportEvidenceRequest(flag_id=flag.flag_id))]
    by_kind: dict[str, list] = {}
    for item in items:
        by_kind.setdefault(item.WhichOneof("item"), []).append(getattr(item, item.WhichOneof("item")))
    assert [f.flag_id for f in by_kind["flag"]] == [flag.flag_id]
    assert len(by_kind["chain"]) == 1 and by_kind["chain"][0].reentry.event_id == "back1"
    event_ids = [getattr(e, e.WhichOneof("kind")).header.event_id for e in by_kind["event"]]
    history = (await enf(service).GetCodeHistory(en.GetCodeHistoryRequest(code=flag.code))).entries
    assert event_ids == [h.event_id for h in history]  # every event of the code, in order
    assert set(flag.evidence_event_ids) <= set(event_ids)
    assert {p.party_id for p in by_kind["party"]} == {"MFR1", "WHS1", "P1", "P2"}  # DEALER is not registered
    standings = {(s.event_id, s.party_id): s for s in by_kind["standing"]}
    assert standings[("back1", "DEALER")].licence_status == "NONE" and not standings[("back1", "DEALER")].licensed
    assert standings[("r1", "WHS1")].licensed
    assert [p.prefix for p in by_kind["product"]] == [b.STATIN]
    for sale in (e.sale for e in by_kind["event"] if e.WhichOneof("kind") == "sale"):
        assert not sale.buyer_id and len(sale.buyer_token) == 64


async def test_export_evidence_for_a_party_and_unknown_subjects(service):
    await ring(service)
    await run(service.engine)
    items = [i async for i in enf(service).ExportEvidence(en.ExportEvidenceRequest(party_id="P2"))]
    flags = [i.flag for i in items if i.WhichOneof("item") == "flag"]
    listed = (await enf(service).ListFlags(en.ListFlagsRequest(party_id="P2", page_size=1000))).flags
    assert sorted(f.flag_id for f in flags) == sorted(f.flag_id for f in listed)
    assert any(i.WhichOneof("item") == "chain" for i in items)
    for request in (en.ExportEvidenceRequest(flag_id="nope"), en.ExportEvidenceRequest(party_id="NOPE")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            [_ async for _ in enf(service).ExportEvidence(request)]
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_unique_prefix_of_a_flag_id_is_accepted_wherever_the_id_is(service):
    """As people copy ids from reports and case files (`74f9fb71…`)."""
    await ring(service)
    await run(service.engine)
    stub = enf(service)
    flag = (await stub.ListFlags(en.ListFlagsRequest(page_size=1))).flags[0]
    got = await stub.GetFlag(en.GetFlagRequest(flag_id=flag.flag_id[:8] + "…"))
    assert got.flag.flag_id == flag.flag_id
    items = [i async for i in stub.ExportEvidence(en.ExportEvidenceRequest(flag_id=flag.flag_id[:10]))]
    assert items[0].flag.flag_id == flag.flag_id
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetFlag(en.GetFlagRequest(flag_id="ffffff00"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
