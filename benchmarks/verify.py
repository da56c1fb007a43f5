"""VerifyCodes latency (p50/p99/p999) and throughput at 1, 16 and 200 concurrent clients, while
a bulk ingester streams receipts into the same service; the stream's send→ack latency
alone (clients 0) and under that load.

    python benchmarks/verify.py [--boxes 5000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, save, server, table  # noqa: E402
from benchmarks.ingest import bulk_receipts, unique_events  # noqa: E402
from tracesvc import client  # noqa: E402
from tracesvc.sim import world  # noqa: E402
from tracesvc.v1 import events_pb2 as ev  # noqa: E402
from tracesvc.v1 import (  # noqa: E402
    ingest_pb2,
    ingest_pb2_grpc,
    verify_pb2_grpc,  # noqa: E402
)
from tracesvc.v1 import verify_pb2 as vf  # noqa: E402


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def bulk_round(round_: int) -> list[ev.Event]:
    """50 delivery notes of 100 boxes, with ids and codes fresh for the round."""
    batch = bulk_receipts(50, 100)
    for e in batch:
        e.receipt.header.event_id += f"-r{round_}"
        for item in e.receipt.items:
            item.code = item.code[:8] + f"{round_ % 10}" + item.code[9:]
    return batch


async def ingest_forever(target: str, stop: asyncio.Event, counter: list[int], ack_latency: list[float]) -> None:
    """Keep a realistic write load on: 100-box delivery notes on one long stream, as fast as the
    service takes them; the latency from handing each event to gRPC to its ack is recorded."""
    async with client.channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        sent: deque[float] = deque()

        async def requests():
            round_ = 0
            while not stop.is_set():
                for e in bulk_round(round_):
                    if stop.is_set():
                        return
                    sent.append(time.perf_counter())
                    yield ingest_pb2.StreamEventsRequest(event=e)
                round_ += 1

        async for resp in stub.StreamEvents(requests()):
            ack_latency.append(time.perf_counter() - sent.popleft())
            assert resp.ack.status in (1, 2), resp.ack
            counter[0] += 100


async def verify_load(target: str, codes: list[tuple[str, str]], clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    channels = [client.channel(target) for _ in range(min(clients, 8))]
    deadline = time.perf_counter() + seconds

    async def one(n: int) -> None:
        stub = verify_pb2_grpc.VerifyServiceStub(channels[n % len(channels)])
        i = n
        while time.perf_counter() < deadline:
            code, party = codes[i % len(codes)]
            i += clients
            t = time.perf_counter()
            await stub.VerifyCodes(vf.VerifyCodesRequest(party_id=party, codes=[vf.CodeToVerify(code=code)]))
            latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(one(n) for n in range(clients)))
    for ch in channels:
        await ch.close()
    return latencies


async def main(boxes: int, seconds: float) -> None:
    events = unique_events(boxes)
    codes = []
    for e in events:
        if e.WhichOneof("kind") == "sale":
            for line in e.sale.lines:
                codes += [(s.code, e.sale.header.party_id) for s in line.scanned]
    rows = []
    with Bench() as bench:
        url = await bench.fresh_db()
        async with server(url) as (target, _):
            async with client.channel(target) as ch:
                await client.upsert_registry(ch, world.registry_records())
                await client.stream_events(ch, events)
            combos = [
                (int(c), w == "y")
                for c, w in (
                    x.split(":") for x in os.environ.get("VERIFY_COMBOS", "0:y,1:n,16:n,1:y,16:y,200:y").split(",")
                )
            ]
            for clients, with_ingest in combos:
                stop, written, acks = asyncio.Event(), [0], []
                if not with_ingest:
                    stop.set()
                writer = asyncio.create_task(ingest_forever(target, stop, written, acks))
                await asyncio.sleep(1)
                start_written, start_acks = written[0], len(acks)
                if clients:
                    lat = sorted(await verify_load(target, codes, clients, seconds))
                else:  # the stream alone, at full throughput
                    await asyncio.sleep(seconds)
                    lat = [0.0]
                end_written, end_acks = written[0], len(acks)  # what the window saw, not the drain after it
                stop.set()
                await writer
                ms = [x * 1000 for x in lat]
                ack = sorted(acks[start_acks:end_acks]) or [0.0]
                rows.append(
                    [
                        clients,
                        "yes" if with_ingest else "no",
                        len(lat),
                        f"{len(lat) / seconds:,.0f}",
                        f"{percentile(ms, 0.5):.2f}",
                        f"{percentile(ms, 0.99):.2f}",
                        f"{percentile(ms, 0.999):.2f}",
                        f"{(end_written - start_written) / seconds:,.0f}",
                        f"{percentile(ack, 0.5):.3f}" if with_ingest else "-",
                        f"{percentile(ack, 0.99):.3f}" if with_ingest else "-",
                    ]
                )
    print(
        table(
            f"VerifyCodes, one code a call, {seconds:.0f} s per row, alone and with bulk ingestion running",
            [
                "clients",
                "ingesting",
                "calls",
                "calls/s",
                "p50 ms",
                "p99 ms",
                "p999 ms",
                "ingest codes/s meanwhile",
                "ack p50 s",
                "ack p99 s",
            ],
            rows,
        )
    )
    print("saved", save("verify", {"boxes": boxes, "seconds": seconds, "rows": rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.boxes, args.seconds))
