"""VerifyService over a real server: every verdict on a story that produces it, and RecordSale's ack verdicts."""

from __future__ import annotations

import grpc
import pytest

from tests import builders as b
from tests.test_reconcile_runs import send
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing
from tracesvc.v1 import verify_pb2 as vf
from tracesvc.v1 import verify_pb2_grpc

V = vf.Verdict


async def verify(service, party: str, *codes: vf.CodeToVerify) -> list[vf.CodeVerdict]:
    stub = verify_pb2_grpc.VerifyServiceStub(service.channel)
    return list((await stub.VerifyCodes(vf.VerifyCodesRequest(party_id=party, codes=codes))).verdicts)


def ask(code: str, units: int | None = None, insurance_code: str = "") -> vf.CodeToVerify:
    c = vf.CodeToVerify(code=code, insurance_code=insurance_code)
    if units is not None:
        c.units = units
    return c


async def test_every_verdict(service):
    await b.seed_registry(service.registry)
    stock, sold, split, elsewhere = (b.code(b.STATIN, n) for n in (1, 2, 3, 4))
    await send(
        service,
        ("receipt", b.receipt("r1", [stock, sold, split])),
        ("receipt", b.receipt("r2", [elsewhere], party="P2")),
        ("sale", b.sale("s1", [(sold, None)], minutes=90)),
        ("sale", b.sale("s2", [(split, 20)], split=True, quantity=20, minutes=95)),
    )
    got = await verify(
        service,
        "P1",
        ask(stock),
        ask(sold),
        ask(split, 8),
        ask(split, 9),
        ask(elsewhere),
        ask(stock, insurance_code="XR05AAA001"),
        ask("6901234567892"),
        ask("86999990000000000001"),
        ask("12345"),
    )
    assert [V.Name(v.verdict).removeprefix("VERDICT_") for v in got] == [
        "SELLABLE",
        "ALREADY_SOLD",
        "SELLABLE",
        "ALREADY_SOLD",
        "NOT_IN_STOCK_HERE",
        "PRODUCT_MISMATCH",
        "NOT_A_TRACE_CODE",
        "UNKNOWN_PRODUCT",
        "INVALID",
    ]
    already = got[1]
    assert already.sold_region == "110105" and already.sold_at == b.at(90) and already.units_left == 0
    assert "buyer" not in str(already).lower()  # when and where, never who
    assert got[3].units_left == 8 and "8 of 28" in got[3].message
    assert got[0].canonical_code == stock and got[0].product_name == "Atorvastatin"


async def test_a_refund_makes_a_code_sellable_again(service):
    await b.seed_registry(service.registry)
    c = b.code(b.STATIN, 9)
    await send(service, ("receipt", b.receipt("r1", [c])), ("sale", b.sale("s1", [(c, None)], minutes=90)))
    assert (await verify(service, "P1", ask(c)))[0].verdict == V.VERDICT_ALREADY_SOLD
    await send(
        service,
        (
            "sale_return",
            ev.SaleReturn(header=b.header("ret", "P1", 100), sale_id="S-s1", codes=[ev.ReturnedCode(code=c)]),
        ),
    )
    assert (await verify(service, "P1", ask(c)))[0].verdict == V.VERDICT_SELLABLE


async def test_record_sale_ack_carries_the_verdicts_before_the_sale(service):
    await b.seed_registry(service.registry)
    c = b.code(b.STATIN, 11)
    await send(service, ("receipt", b.receipt("r1", [c])))
    first = b.sale("s1", [(c, None)], minutes=90)
    second = b.sale("s2", [(c, None)], minutes=95, party="P2")  # the same box, sold again elsewhere
    resp = await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[first, second]))
    assert [[v.verdict for v in a.verdicts] for a in resp.acks] == [[V.VERDICT_SELLABLE], [V.VERDICT_ALREADY_SOLD]]
    retry = await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[first]))
    assert retry.acks[0].status == 2 and not retry.acks[0].verdicts  # a duplicate changes nothing


async def test_bad_verify_requests_are_rejected_with_field_details(service):
    await b.seed_registry(service.registry)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await verify(service, "GHOST", ask(b.code(b.STATIN, 1), 0))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    from grpc_status import rpc_status

    from tests.test_registry_api import violations_of

    assert set(violations_of(rpc_status.from_call(info.value))) == {"party_id", "codes[0].units"}
