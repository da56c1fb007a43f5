"""Who may do what: each role's allowed calls work, and what it may not do is denied without leaking data."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from tests import builders as b
from tests.conftest import start_service
from tracesvc.client import bearer
from tracesvc.store.keys import create_key, revoke_key
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc, reconcile_pb2_grpc, verify_pb2_grpc
from tracesvc.v1 import ingest_pb2 as ing
from tracesvc.v1 import reconcile_pb2 as rc
from tracesvc.v1 import registry_pb2 as reg
from tracesvc.v1 import verify_pb2 as vf

DENIED, UNAUTH = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def secured(config):
    async with start_service(dataclasses.replace(config, auth=True)) as svc:
        keys = {}
        for name, role, party, chain in [
            ("regulator", "REGULATOR", None, False),
            ("inspector", "INSPECTOR", None, False),
            ("pos_p1", "POS", "P1", False),
            ("pos_chain", "POS", "P1", True),
            ("supplier", "SUPPLIER", "WHS1", False),
        ]:
            keys[name] = (await create_key(svc.engine, role, party, chain_wide=chain))[1]
        await b.seed_registry_as(svc.registry, bearer(keys["regulator"]))
        yield svc, keys


async def code_of(call) -> grpc.StatusCode | None:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return None


async def test_unauthenticated_and_bad_keys_are_refused(secured):
    svc, keys = secured
    request = reg.GetPartyRequest(party_id="P1")
    assert await code_of(svc.registry.GetParty(request)) == UNAUTH
    assert await code_of(svc.registry.GetParty(request, metadata=bearer("tsk_nope_nope"))) == UNAUTH
    forged = keys["inspector"].rsplit("_", 1)[0] + "_forged"
    assert await code_of(svc.registry.GetParty(request, metadata=bearer(forged))) == UNAUTH
    assert await code_of(svc.registry.GetParty(request, metadata=bearer(keys["inspector"]))) is None
    # health stays open for load balancers
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    await health_pb2_grpc.HealthStub(svc.channel).Check(health_pb2.HealthCheckRequest())


async def test_a_revoked_key_stops_working(config):
    async with start_service(dataclasses.replace(config, auth=True)) as svc:
        key_id, token = await create_key(svc.engine, "INSPECTOR")
        await revoke_key(svc.engine, key_id)
        assert await code_of(svc.registry.GetParty(reg.GetPartyRequest(party_id="x"), metadata=bearer(token))) == UNAUTH


async def test_pos_writes_and_verifies_for_its_own_party_only(secured):
    svc, keys = secured
    own = b.receipt("own", [b.code(b.STATIN, 1)], party="P1")
    other = b.receipt("other", [b.code(b.STATIN, 2)], party="P2")
    resp = await svc.ingest.RecordReceipt(
        ing.RecordReceiptRequest(receipts=[own, other]), metadata=bearer(keys["pos_p1"])
    )
    assert [a.status for a in resp.acks] == [1, 3]
    assert resp.acks[1].error.code == DENIED.value[0] and "P2" in resp.acks[1].error.message
    # a chain-wide key also writes for the chain's distribution centre, not for outsiders
    dc = b.receipt("dc", [b.code(b.STATIN, 3)], party="DC1")
    resp = await svc.ingest.RecordReceipt(
        ing.RecordReceiptRequest(receipts=[dc, other]), metadata=bearer(keys["pos_chain"])
    )
    assert [a.status for a in resp.acks] == [1, 3]
    stub = verify_pb2_grpc.VerifyServiceStub(svc.channel)
    ok = vf.VerifyCodesRequest(party_id="P1", codes=[vf.CodeToVerify(code=b.code(b.STATIN, 1))])
    assert await code_of(stub.VerifyCodes(ok, metadata=bearer(keys["pos_p1"]))) is None
    elsewhere = vf.VerifyCodesRequest(party_id="P2", codes=[vf.CodeToVerify(code=b.code(b.STATIN, 1))])
    assert await code_of(stub.VerifyCodes(elsewhere, metadata=bearer(keys["pos_p1"]))) == DENIED


async def test_supplier_records_its_own_receipts_and_shipments_only(secured):
    svc, keys = secured
    own = b.receipt("w1", [b.code(b.STATIN, 5)], party="WHS1", supplier="MFR1")
    sale = b.sale("ws", [(b.code(b.STATIN, 5), None)], party="WHS1")
    r1 = await svc.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[own]), metadata=bearer(keys["supplier"]))
    r2 = await svc.ingest.RecordSale(ing.RecordSaleRequest(sales=[sale]), metadata=bearer(keys["supplier"]))
    assert r1.acks[0].status == 1 and r2.acks[0].status == 3
    assert r2.acks[0].error.code == DENIED.value[0]


async def test_pos_cannot_read_enforcement_data_and_inspector_cannot_review_or_run(secured):
    svc, keys = secured
    enf = enforcement_pb2_grpc.EnforcementServiceStub(svc.channel)
    recon = reconcile_pb2_grpc.ReconcileServiceStub(svc.channel)
    assert await code_of(enf.ListFlags(en.ListFlagsRequest(), metadata=bearer(keys["pos_p1"]))) == DENIED
    assert (
        await code_of(
            enf.GetCodeHistory(en.GetCodeHistoryRequest(code=b.code(b.STATIN, 1)), metadata=bearer(keys["pos_p1"]))
        )
        == DENIED
    )
    assert await code_of(enf.ListFlags(en.ListFlagsRequest(), metadata=bearer(keys["inspector"]))) is None
    review = en.ReviewFlagRequest(flag_id="x", decision=en.REVIEW_DECISION_CONFIRM)
    assert await code_of(enf.ReviewFlag(review, metadata=bearer(keys["inspector"]))) == DENIED
    run = rc.RunReconciliationRequest(mode=rc.RUN_MODE_FULL)
    assert await code_of(recon.RunReconciliation(run, metadata=bearer(keys["inspector"]))) == DENIED
    assert await code_of(recon.RunReconciliation(run, metadata=bearer(keys["pos_p1"]))) == DENIED
    upsert = reg.UpsertPartiesRequest(parties=b.parties()[:1])
    assert await code_of(svc.registry.UpsertParties(upsert, metadata=bearer(keys["pos_p1"]))) == DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await enf.ListFlags(en.ListFlagsRequest(), metadata=bearer(keys["pos_p1"]))
    assert info.value.details() == "role POS may not call ListFlags"  # nothing but the refusal
    assert not [k for k, _ in (info.value.trailing_metadata() or ()) if k == "grpc-status-details-bin"]


async def test_every_evidence_read_is_audited(secured, raw_db):
    svc, keys = secured
    enf = enforcement_pb2_grpc.EnforcementServiceStub(svc.channel)
    who = bearer(keys["inspector"])
    await enf.ListFlags(en.ListFlagsRequest(rule="D"), metadata=who)
    await enf.GetCodeHistory(en.GetCodeHistoryRequest(code=b.code(b.STATIN, 1)), metadata=who)
    await enf.ListReturnChains(en.ListReturnChainsRequest(buyer_id="110101197707077777"), metadata=who)
    await enf.RankSuspects(en.RankSuspectsRequest(role=en.SUSPECT_ROLE_BUYER), metadata=who)
    [_ async for _ in enf.ExportEvidence(en.ExportEvidenceRequest(party_id="P1"), metadata=who)]
    rows = await raw_db.fetch("SELECT key_id, role, method, target, detail FROM audit_log ORDER BY audit_id")
    assert [r["method"] for r in rows] == [
        "ListFlags",
        "GetCodeHistory",
        "ListReturnChains",
        "RankSuspects",
        "ExportEvidence",
    ]
    assert {r["role"] for r in rows} == {"INSPECTOR"}
    assert rows[1]["target"] == f"code:{b.code(b.STATIN, 1)}"
    assert rows[2]["target"].startswith("buyer:") and rows[2]["detail"] == "person lookup by number"
    assert "110101197707077777" not in str([dict(r) for r in rows])  # the clear number is never kept
