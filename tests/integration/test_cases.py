"""Enforcement cases over gRPC: suggested from a ring, worked through its statuses with reasons, an
append-only case log, bulk review audited per flag, and flags that show their case."""

from __future__ import annotations

import asyncpg
import grpc
import pytest

from tests import builders as b
from tests.integration.test_reconcile_api import ring
from tests.integration.test_reconcile_runs import send, whs_supply
from tests.reconcile_helpers import run
from tracesvc.v1 import enforcement_pb2 as en
from tracesvc.v1 import enforcement_pb2_grpc

FLAG, CHAIN, CODE, BUYER = (
    en.CASE_MEMBER_KIND_FLAG,
    en.CASE_MEMBER_KIND_CHAIN,
    en.CASE_MEMBER_KIND_CODE,
    en.CASE_MEMBER_KIND_BUYER,
)


def enf(service) -> enforcement_pb2_grpc.EnforcementServiceStub:
    return enforcement_pb2_grpc.EnforcementServiceStub(service.channel)


async def status_of(call) -> grpc.StatusCode | None:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return None


async def two_rings(service) -> None:
    """The ring of tests/test_reconcile_api (buyer 0066 → DEALER → P2), and a second, unrelated one
    (another buyer, boxes back through WHS1 at P1) worth less."""
    await ring(service)
    events = []
    for n in (1, 2):
        c = b.code(b.SYRUP, 80 + n)
        events += [
            whs_supply(c),
            ("receipt", b.receipt(f"q{n}", [c], party="P2", minutes=0)),
            (
                "sale",
                b.sale(
                    f"qs{n}",
                    [(c, None)],
                    party="P2",
                    minutes=60,
                    buyer="110101197707070077",
                    insurance_code="XR05AAA001",
                ),
            ),
            ("receipt", b.receipt(f"qback{n}", [c], party="P1", supplier="NOBODY", minutes=3000)),
            ("sale", b.sale(f"qre{n}", [(c, None)], party="P1", minutes=3100, insurance_code="XR05AAA001")),
        ]
    await send(service, *events)
    await run(service.engine)


async def test_a_simulated_ring_is_suggested_as_one_case_and_becomes_one(service):
    await two_rings(service)
    stub = enf(service)
    suggestions = (await stub.SuggestCases(en.SuggestCasesRequest(min_flags=3))).suggestions
    rings = [s for s in suggestions if s.basis == "RING"]
    assert len(rings) == 2  # two rings, not one per chain or per flag
    first = next(s for s in rings if s.key == "DEALER")
    second = next(s for s in rings if s.key == "NOBODY")
    r_flags = [f for f in (await stub.ListFlags(en.ListFlagsRequest(rule="R"))).flags]
    assert len(r_flags) == 4
    assert {f.flag_id for f in r_flags if f.subject_party == "P2"} <= set(first.flag_ids)  # both re-entries
    assert {f.flag_id for f in r_flags if f.subject_party == "P1"} <= set(second.flag_ids)
    assert first.chains == 2 and len(first.buyer_tokens) == 1  # two boxes (one story each, issue 23), one 药农
    assert sorted(first.codes) == [b.code(b.STATIN, 71), b.code(b.STATIN, 72)]
    assert {"P1", "P2", "DEALER"} <= set(first.parties)
    assert [s.money_fen for s in suggestions] == sorted((s.money_fen for s in suggestions), reverse=True)
    # ring 1 and ring 2 share no flag
    assert not set(rings[0].flag_ids) & set(rings[1].flag_ids)

    created = (await stub.CreateCase(first.proposal)).case
    assert created.status == en.CASE_STATUS_OPEN and created.flag_count == len(first.flag_ids)
    assert created.money_fen == first.money_fen > 0
    assert [e.action for e in created.log][:2] == ["CREATED", "ADDED"]
    # the flags now show their case, and a suggestion no longer offers them
    for f in (await stub.ListFlags(en.ListFlagsRequest(party_id="P2", code=first.codes[0]))).flags:
        assert f.case_id == (created.case_id if f.flag_id in first.flag_ids else "")
    again = (await stub.SuggestCases(en.SuggestCasesRequest())).suggestions
    assert all(not set(s.flag_ids) & set(first.flag_ids) for s in again)
    # one flag sits in one case at most
    code = await status_of(
        stub.CreateCase(
            en.CreateCaseRequest(title="dup", reason="r", members=[en.CaseMemberRef(kind=FLAG, ref=first.flag_ids[0])])
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_status_transitions_need_a_reason_and_follow_the_workflow(service):
    stub = enf(service)
    case = (
        await stub.CreateCase(
            en.CreateCaseRequest(
                title="药店 P2 回流药", subject_parties=["P2"], region="110108", reason="tip-off from the fund"
            )
        )
    ).case
    cid = case.case_id

    async def move(status, reason="because"):
        return await status_of(stub.UpdateCase(en.UpdateCaseRequest(case_id=cid, status=status, reason=reason)))

    assert await move(en.CASE_STATUS_INVESTIGATING, reason="  ") == grpc.StatusCode.INVALID_ARGUMENT
    assert await move(en.CASE_STATUS_CLOSED_CONFIRMED) == grpc.StatusCode.FAILED_PRECONDITION  # not investigated
    assert await move(en.CASE_STATUS_UNSPECIFIED) == grpc.StatusCode.INVALID_ARGUMENT
    assert await move(en.CASE_STATUS_INVESTIGATING, "site visit planned") is None
    assert await move(en.CASE_STATUS_ESCALATED, "hand to the public security bureau") is None
    assert await move(en.CASE_STATUS_INVESTIGATING, "PSB asks for more") is None
    assert await move(en.CASE_STATUS_CLOSED_CONFIRMED, "confessed") is None
    for target in (en.CASE_STATUS_OPEN, en.CASE_STATUS_INVESTIGATING, en.CASE_STATUS_CLOSED_DISMISSED):
        assert await move(target) == grpc.StatusCode.FAILED_PRECONDITION  # closed is final
    assert await status_of(
        stub.AddToCase(
            en.ChangeCaseMembersRequest(
                case_id=cid, reason="late", members=[en.CaseMemberRef(kind=CODE, ref=b.code(b.STATIN, 1))]
            )
        )
    ) == (grpc.StatusCode.FAILED_PRECONDITION)
    got = (await stub.GetCase(en.GetCaseRequest(case_id=cid))).case
    assert got.status == en.CASE_STATUS_CLOSED_CONFIRMED
    assert [(e.action, e.from_status, e.to_status, e.reason) for e in got.log] == [
        ("CREATED", en.CASE_STATUS_UNSPECIFIED, en.CASE_STATUS_OPEN, "tip-off from the fund"),
        ("STATUS", en.CASE_STATUS_OPEN, en.CASE_STATUS_INVESTIGATING, "site visit planned"),
        ("STATUS", en.CASE_STATUS_INVESTIGATING, en.CASE_STATUS_ESCALATED, "hand to the public security bureau"),
        ("STATUS", en.CASE_STATUS_ESCALATED, en.CASE_STATUS_INVESTIGATING, "PSB asks for more"),
        ("STATUS", en.CASE_STATUS_INVESTIGATING, en.CASE_STATUS_CLOSED_CONFIRMED, "confessed"),
    ]
    assert all(e.actor == "auth-off" and e.at.seconds for e in got.log)
    assert await status_of(stub.GetCase(en.GetCaseRequest(case_id="CASE-nope"))) == grpc.StatusCode.NOT_FOUND
    assert (
        await status_of(
            stub.UpdateCase(en.UpdateCaseRequest(case_id="CASE-nope", status=en.CASE_STATUS_INVESTIGATING, reason="x"))
        )
        == grpc.StatusCode.NOT_FOUND
    )


async def test_members_are_checked_added_removed_and_logged(service):
    await ring(service)
    await run(service.engine)
    stub = enf(service)
    c = b.code(b.STATIN, 71)
    flag = (await stub.ListFlags(en.ListFlagsRequest(rule="R", code=c))).flags[0]
    chain = (await stub.ListReturnChains(en.ListReturnChainsRequest(code=c))).chains[0]
    token = chain.originals[0].buyer_token
    case = (
        await stub.CreateCase(
            en.CreateCaseRequest(
                title="box 71",
                reason="r",
                members=[
                    en.CaseMemberRef(kind=FLAG, ref=flag.flag_id),
                    en.CaseMemberRef(kind=CHAIN, ref=chain.flag_id),
                    en.CaseMemberRef(kind=CODE, ref=f"{c[:10]} {c[10:]}"),
                    en.CaseMemberRef(kind=BUYER, ref=token.upper()),
                ],
            )
        )
    ).case
    assert sorted((m.kind, m.ref) for m in case.members) == sorted(
        [(FLAG, flag.flag_id), (CHAIN, chain.flag_id), (CODE, c), (BUYER, token)]
    )
    for bad, code in [
        (en.CaseMemberRef(kind=BUYER, ref="110101196001010066"), grpc.StatusCode.INVALID_ARGUMENT),
        (en.CaseMemberRef(kind=FLAG, ref="nope"), grpc.StatusCode.NOT_FOUND),
        (en.CaseMemberRef(kind=CODE, ref="garbage"), grpc.StatusCode.INVALID_ARGUMENT),
        (en.CaseMemberRef(kind=0, ref="x"), grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        assert (
            await status_of(
                stub.AddToCase(en.ChangeCaseMembersRequest(case_id=case.case_id, reason="r", members=[bad]))
            )
            == code
        )
    assert (
        await status_of(
            stub.AddToCase(
                en.ChangeCaseMembersRequest(case_id=case.case_id, members=[en.CaseMemberRef(kind=CODE, ref=c)])
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )  # no reason
    after = (
        await stub.RemoveFromCase(
            en.ChangeCaseMembersRequest(
                case_id=case.case_id, reason="not ours", members=[en.CaseMemberRef(kind=FLAG, ref=flag.flag_id)]
            )
        )
    ).case
    assert FLAG not in {m.kind for m in after.members} and after.flag_count == 0
    assert (after.log[-1].action, after.log[-1].detail, after.log[-1].reason) == (
        "REMOVED",
        f"FLAG {flag.flag_id}",
        "not ours",
    )
    assert (await stub.GetFlag(en.GetFlagRequest(flag_id=flag.flag_id))).flag.case_id == ""
    listed = (await stub.ListCases(en.ListCasesRequest(statuses=[en.CASE_STATUS_OPEN]))).cases
    assert [x.case_id for x in listed] == [case.case_id] and not listed[0].log
    assert not (await stub.ListCases(en.ListCasesRequest(statuses=[en.CASE_STATUS_ESCALATED]))).cases


async def test_list_cases_pages_and_filters(service):
    stub = enf(service)
    ids = [
        (
            await stub.CreateCase(
                en.CreateCaseRequest(
                    title=f"c{n}", reason="r", region="110108" if n % 2 else "310101", subject_parties=[f"P{n}"]
                )
            )
        ).case.case_id
        for n in range(5)
    ]
    seen, token = [], ""
    while True:
        page = await stub.ListCases(en.ListCasesRequest(page_size=2, page_token=token))
        seen += [c.case_id for c in page.cases]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    assert [c.case_id for c in (await stub.ListCases(en.ListCasesRequest(region="11"))).cases] == ids[1::2]
    assert [c.case_id for c in (await stub.ListCases(en.ListCasesRequest(party_id="P2"))).cases] == [ids[2]]
    assert await status_of(stub.ListCases(en.ListCasesRequest(page_token="bogus"))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_the_case_log_is_append_only_in_the_database(service, raw_db):
    stub = enf(service)
    cid = (await stub.CreateCase(en.CreateCaseRequest(title="t", reason="opened"))).case.case_id
    for sql in ("UPDATE case_log SET reason = 'rewritten'", "DELETE FROM case_log", "TRUNCATE case_log CASCADE"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await raw_db.execute(sql)
    rows = await raw_db.fetch("SELECT reason FROM case_log WHERE case_id = $1", cid)
    assert [r["reason"] for r in rows] == ["opened"]


async def test_bulk_review_over_a_list_and_a_filter_is_audited_per_flag(service, raw_db):
    await ring(service)
    await run(service.engine)
    stub = enf(service)
    r_flags = [f.flag_id for f in (await stub.ListFlags(en.ListFlagsRequest(rule="R"))).flags]
    assert len(r_flags) == 2
    assert (
        await status_of(stub.ReviewFlags(en.ReviewFlagsRequest(flag_ids=r_flags, decision=en.REVIEW_DECISION_CONFIRM)))
        == grpc.StatusCode.INVALID_ARGUMENT
    )  # no note
    done = await stub.ReviewFlags(
        en.ReviewFlagsRequest(flag_ids=[*r_flags, "nope"], decision=en.REVIEW_DECISION_CONFIRM, note="ring confirmed")
    )
    assert sorted(done.reviewed) == sorted(r_flags)
    assert [(s.flag_id, s.reason) for s in done.skipped] == [("nope", "no such flag")]
    by_filter = await stub.ReviewFlags(
        en.ReviewFlagsRequest(
            filter=en.ListFlagsRequest(kind="UNLICENSED_SUPPLIER", party_id="P2"),
            decision=en.REVIEW_DECISION_DISMISS,
            note="dealer licensed after all",
        )
    )
    assert len(by_filter.reviewed) == 2
    flags = {
        f.flag_id: f
        for f in (
            await stub.ListFlags(en.ListFlagsRequest(statuses=[en.FLAG_STATUS_CONFIRMED, en.FLAG_STATUS_DISMISSED]))
        ).flags
    }
    assert {flags[i].review_note for i in r_flags} == {"ring confirmed"}
    assert {flags[i].status for i in by_filter.reviewed} == {en.FLAG_STATUS_DISMISSED}
    audit = await raw_db.fetch("SELECT target, detail FROM audit_log WHERE method = 'ReviewFlags' ORDER BY audit_id")
    assert sorted(r["target"] for r in audit) == sorted(f"flag:{i}" for i in [*r_flags, *by_filter.reviewed])
    assert {r["detail"] for r in audit} == {"CONFIRMED: ring confirmed", "DISMISSED: dealer licensed after all"}
    both = en.ReviewFlagsRequest(
        flag_ids=r_flags, filter=en.ListFlagsRequest(rule="R"), decision=en.REVIEW_DECISION_CONFIRM, note="x"
    )
    assert await status_of(stub.ReviewFlags(both)) == grpc.StatusCode.INVALID_ARGUMENT
