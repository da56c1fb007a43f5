"""Hostile input over every RPC of every service (DESIGN §8): never UNKNOWN or INTERNAL, a short
message, the server stays SERVING, and valid events beside a hostile one are stored.

Hypothesis draws the requests (odd Unicode, NUL, huge strings, extreme numbers and timestamps,
missing oneofs, garbage page tokens) from each method's descriptor; they are then sent over a
real channel. Bounded: a few examples per method, so the suite stays quick.
"""

from __future__ import annotations

import base64

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests import builders as b
from tracesvc.app.server import SERVICE_NAMES
from tracesvc.v1 import ack_pb2, enforcement_pb2, ingest_pb2, reconcile_pb2, registry_pb2, verify_pb2
from tracesvc.v1 import ingest_pb2 as ing

EXAMPLES_PER_METHOD = 12
_MODULES = (registry_pb2, ingest_pb2, verify_pb2, reconcile_pb2, enforcement_pb2)
_SKIP = {"ExportCase"}  # renders a PDF per call; its inputs are the case id only, covered by GetCase

_TRICKY = [
    "",
    " ",
    "\x00",
    "P1",
    "P1\x00",
    "8" + "²" * 19,
    "8" + "１" * 19,
    "(01)06900000000012(17)AB0101(21)SN1",
    b.code(b.STATIN, 1),
    "110105",
    "１１０１０５",
    "x" * 100_000,
    "\u202e\ufeff\U0001f48a",
    "0" * 30,
    base64.urlsafe_b64encode(b"flag:abc").decode(),
    base64.urlsafe_b64encode(b"run:abc").decode(),
    base64.urlsafe_b64encode(b"flag:" + b"9" * 30).decode(),
    "'; DROP TABLE events; --",
]
TEXT = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=24))
INT32 = st.one_of(st.sampled_from([0, -1, 1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))
INT64 = st.one_of(st.sampled_from([0, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1))
SECONDS = st.one_of(st.sampled_from([0, -(2**62), 2**62, 253_402_300_800, 1_790_000_000]), INT64)
NANOS = st.one_of(st.sampled_from([0, -1, 10**9, 999_999_999]), INT32)


def _fill(data: st.DataObject, message, depth: int = 0) -> None:
    """Set a random subset of the message's fields to hostile values (one member per oneof)."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = data.draw(SECONDS), data.draw(NANOS)
        return
    chosen_oneof = {o.name: data.draw(st.sampled_from([None, *o.fields])) for o in message.DESCRIPTOR.oneofs}
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen_oneof[oneof.name] is not field:
            continue
        if oneof is None and not data.draw(st.booleans()):
            continue
        count = data.draw(st.integers(0, 3)) if field.is_repeated else 1
        for _ in range(count):
            _set(data, message, field, depth)


def _set(data: st.DataObject, message, field, depth: int) -> None:
    container = getattr(message, field.name)
    if field.type == field.TYPE_MESSAGE:
        if depth > 4:
            return
        sub = container.add() if field.is_repeated else container
        if not field.is_repeated:
            sub.SetInParent()
        _fill(data, sub, depth + 1)
        return
    strategy = {
        field.TYPE_STRING: TEXT,
        field.TYPE_BOOL: st.booleans(),
        field.TYPE_INT32: INT32,
        field.TYPE_INT64: INT64,
        field.TYPE_ENUM: st.integers(-1, 12),
        field.TYPE_BYTES: st.binary(max_size=16),
    }.get(field.type, INT32)
    value = data.draw(strategy)
    if field.is_repeated:
        container.append(value)
    else:
        setattr(message, field.name, value)


def _requests(input_cls, n: int) -> list:
    out: list = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def draw(data):
        msg = input_cls()
        _fill(data, msg)
        out.append(msg)

    draw()
    return out


def _methods():
    for module in _MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.name not in _SKIP:
                    yield service, method


async def _call(channel: grpc.aio.Channel, service, method, request):
    path = f"/{service.full_name}/{method.name}"
    serialize = type(request).SerializeToString
    if method.client_streaming:
        call = channel.stream_stream(path, request_serializer=serialize, response_deserializer=lambda b_: b_)
        responses = call(iter([request, request]), timeout=30)
        return [r async for r in responses]
    if method.server_streaming:
        call = channel.unary_stream(path, request_serializer=serialize, response_deserializer=lambda b_: b_)
        return [r async for r in call(request, timeout=30)]
    call = channel.unary_unary(path, request_serializer=serialize, response_deserializer=lambda b_: b_)
    return await call(request, timeout=30)


@pytest.fixture
async def seeded(service):
    await b.seed_registry(service.registry)
    await service.ingest.RecordReceipt(ing.RecordReceiptRequest(receipts=[b.receipt("r-seed", [b.code(b.STATIN, 1)])]))
    return service


async def test_no_rpc_answers_hostile_input_with_unknown_internal_or_a_long_message(seeded):
    calls = 0
    for service, method in _methods():
        input_cls = message_factory.GetMessageClass(method.input_type)
        for request in _requests(input_cls, EXAMPLES_PER_METHOD):
            calls += 1
            try:
                await _call(seeded.channel, service, method, request)
            except grpc.aio.AioRpcError as exc:
                where = f"{method.name}({str(request)[:300]!r})"
                assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (where, exc.details())
                assert len((exc.details() or "").encode()) < 1024, where
                # a too-long message would arrive as RESOURCE_EXHAUSTED "Stream removed"
                assert exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED, (where, exc.details())
    assert calls >= EXAMPLES_PER_METHOD * 30
    health = health_pb2_grpc.HealthStub(seeded.channel)
    for name in (*SERVICE_NAMES, ""):
        resp = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


HOSTILE_SALES = [
    b.sale("bad-digits", [("8" + "²" * 19, None)]),
    b.sale("bad-nul", [(b.code(b.STATIN, 9), None)], sale_id="S\x00NUL"),
    b.sale("bad-huge", [(b.code(b.STATIN, 9), None)], sale_id="S" * 100_000),
    b.sale("bad-units", [(b.code(b.STATIN, 9), 2**31 - 1), (b.code(b.STATIN, 9), 2**31 - 1)]),
    b.sale("bad-qty", [(b.code(b.STATIN, 9), None)], quantity=-(2**31)),
]


@pytest.mark.parametrize("hostile", HOSTILE_SALES, ids=lambda s: s.header.event_id)
async def test_a_hostile_sale_costs_only_itself(seeded, raw_db, hostile):
    good1 = b.sale("good-1", [(b.code(b.STATIN, 1), 7)], split=True, quantity=7)
    good2 = b.sale("good-2", [(b.code(b.STATIN, 2), None)])
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[good1, hostile, good2]))
    assert [a.status for a in resp.acks] == [
        ack_pb2.ACK_STATUS_STORED,
        ack_pb2.ACK_STATUS_REJECTED,
        ack_pb2.ACK_STATUS_STORED,
    ]
    assert len(resp.acks[1].error.message) < 1024
    assert await raw_db.fetchval("SELECT count(*) FROM events WHERE event_id IN ('good-1', 'good-2')") == 2


async def test_a_sale_of_more_lines_than_line_no_holds_is_rejected_not_crashed(seeded):
    sale = b.sale("many-lines", [(b.code(b.STATIN, 3), 1)], split=True)
    line = sale.lines[0]
    for _ in range(33_000):
        sale.lines.add().CopyFrom(line)
    resp = await seeded.ingest.RecordSale(ing.RecordSaleRequest(sales=[sale]))
    assert resp.acks[0].status == ack_pb2.ACK_STATUS_REJECTED
    assert "lines" in resp.acks[0].error.message


async def test_a_huge_party_id_gets_a_short_not_found_or_invalid_argument(seeded):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seeded.registry.GetParty(registry_pb2.GetPartyRequest(party_id="P" * 100_000))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(info.value.details()) < 1024
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seeded.registry.GetParty(registry_pb2.GetPartyRequest(party_id="NOPE-" + "x" * 100))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


async def test_garbage_page_tokens_are_invalid_argument(seeded):
    enf = enforcement_pb2
    from tracesvc.v1 import enforcement_pb2_grpc, reconcile_pb2_grpc

    stub = enforcement_pb2_grpc.EnforcementServiceStub(seeded.channel)
    runs = reconcile_pb2_grpc.ReconcileServiceStub(seeded.channel)
    for token in (b"flag:abc", b"flag:" + b"9" * 30, b"run:abc"):
        t = base64.urlsafe_b64encode(token).decode()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListFlags(enf.ListFlagsRequest(page_token=t))
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await runs.ListRuns(reconcile_pb2.ListRunsRequest(page_token=t))
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "SELECT" not in info.value.details()


async def test_http_intake_refuses_nul_and_huge_strings_with_400(config):
    import httpx

    from tests.integration.test_intake_http import running
    from tests.unit.nhsa_samples import envelope, sale_row

    async with running(config) as (_, http):
        for bad in ("S\x00", "S" * 100_000):
            r = await http.post("/nhsa/v1/3505", json=envelope("3505", {"selinfo": sale_row(bad)}))
            assert r.status_code == 400, r.text
            assert len(r.text) < 1024
        r = await http.post("/epcis/events", json={"type": "ObjectEvent", "eventID": "x\x00"})
        assert r.status_code == 400 and len(r.text) < 1024
        assert isinstance(http, httpx.AsyncClient)
