"""A POS verifying a box is served while a wholesaler streams delivery notes into the same
service (issue 13): a generous bound on each call, not a timing benchmark."""

from __future__ import annotations

import asyncio
import time

from tests import builders as b
from tests.integration.test_reconcile_runs import send
from tracesvc import client
from tracesvc.v1 import ack_pb2, verify_pb2_grpc
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import verify_pb2 as vf

NOTES, BOXES = 80, 100  # 8,000 codes: seconds of ingestion on the test machine


def delivery_note(n: int) -> ev.Event:
    codes = [b.code(b.STATIN, 100_000 + n * BOXES + k) for k in range(BOXES)]
    return ev.Event(receipt=b.receipt(f"note-{n}", codes, party="P2"))


async def test_verify_is_served_while_a_bulk_stream_ingests(service):
    await b.seed_registry(service.registry)
    box = b.code(b.STATIN, 1)
    await send(service, ("receipt", b.receipt("stock", [box])))

    bulk = asyncio.create_task(client.stream_events(service.channel, [delivery_note(n) for n in range(NOTES)]))
    async with client.channel(service.target) as pos:  # the POS: its own connection
        during = await verify_until_done(verify_pb2_grpc.VerifyServiceStub(pos), box, bulk)
    acks = await bulk
    assert [a.status for a in acks] == [ack_pb2.ACK_STATUS_STORED] * NOTES  # the stream finished, all stored
    assert during >= 3, f"only {during} verify calls overlapped the stream: the test did not test"


async def verify_until_done(stub, box: str, bulk: asyncio.Task) -> int:
    during = 0
    while not bulk.done():
        started = time.perf_counter()
        got = await stub.VerifyCodes(
            vf.VerifyCodesRequest(party_id="P1", codes=[vf.CodeToVerify(code=box)]), timeout=10
        )
        took = time.perf_counter() - started
        assert took < 2.0, f"a verify call took {took:.2f} s behind the bulk stream"
        assert got.verdicts[0].verdict == vf.Verdict.VERDICT_SELLABLE
        during += 0 if bulk.done() else 1
    return during
