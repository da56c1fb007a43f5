"""VerifyCodes latency (p50/p99/p999) and throughput at 1, 16 and 200 concurrent clients, while
a bulk ingester streams receipts into the same service; the stream's send→ack latency
alone (clients 0) and under that load.

    python benchmarks/verify.py [--boxes 5000] [--seconds 8] [--lanes 0,1] [--workers 1]

Each --lanes value is a TRACESVC_BULK_PROCESSES setting, measured on its own fresh database in
the same run: 0 is the baseline (bulk work on the serving loop), 1 the bulk lane (issue 13).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
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


async def ingest_forever(target: str, stop: asyncio.Event, acks: list[tuple[float, float]], first_round: int) -> None:
    """Keep a realistic write load on: 100-box delivery notes on one long stream, as fast as the
    service takes them; each ack is recorded as (when, latency from handing the event to gRPC)."""
    async with client.channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        sent: deque[float] = deque()

        async def requests():
            for round_ in itertools.count(first_round):
                for e in bulk_round(round_):
                    if stop.is_set():
                        return
                    sent.append(time.monotonic())
                    yield ingest_pb2.StreamEventsRequest(event=e)

        async for resp in stub.StreamEvents(requests()):
            now = time.monotonic()
            acks.append((now, now - sent.popleft()))
            assert resp.ack.status in (1, 2), resp.ack


def _ingester(target: str, first_round: int, stop_flag, results) -> None:
    """The bulk uploader in its own process, as a wholesaler's would be: its CPU is not the
    verifying clients' event loop (in one process, its proto building delayed their timing)."""

    async def run() -> None:
        stop, acks = asyncio.Event(), []

        async def watch() -> None:
            while not stop_flag.is_set():
                await asyncio.sleep(0.05)
            stop.set()

        watcher = asyncio.create_task(watch())
        await ingest_forever(target, stop, acks, first_round)
        await watcher
        results.put(acks)

    asyncio.run(run())


_ROWS = itertools.count()  # each row's rounds store new events (a repeat would be DUPLICATE, cheaper)


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


async def main(boxes: int, seconds: float, lanes: list[str], workers: str) -> None:
    events = unique_events(boxes)
    codes = []
    for e in events:
        if e.WhichOneof("kind") == "sale":
            for line in e.sale.lines:
                codes += [(s.code, e.sale.header.party_id) for s in line.scanned]
    rows = []
    with Bench() as bench:
        for lane in lanes:
            url = await bench.fresh_db()
            async with server(url, TRACESVC_BULK_PROCESSES=lane, TRACESVC_WORKERS=workers) as (target, _):
                async with client.channel(target) as ch:
                    await client.upsert_registry(ch, world.registry_records())
                    await client.stream_events(ch, events)
                for clients, with_ingest in _combos():
                    rows.append([lane, *await _row(target, codes, clients, with_ingest, seconds)])
    print(
        table(
            f"VerifyCodes, one code a call, {seconds:.0f} s per row, alone and with bulk ingestion running",
            [
                "bulk lane",
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
                "verify clients' CPU %",
            ],
            rows,
        )
    )
    print("saved", save("verify", {"boxes": boxes, "seconds": seconds, "lanes": lanes, "rows": rows}))


def _combos() -> list[tuple[int, bool]]:
    spec = os.environ.get("VERIFY_COMBOS", "0:y,1:n,16:n,1:y,16:y,200:y")
    return [(int(c), w == "y") for c, w in (x.split(":") for x in spec.split(","))]


async def _row(target: str, codes: list[tuple[str, str]], clients: int, with_ingest: bool, seconds: float) -> list:
    ctx = multiprocessing.get_context("spawn")
    stop_flag, results = ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=_ingester, args=(target, next(_ROWS) * 10_000, stop_flag, results))
    if with_ingest:
        writer.start()
        await asyncio.sleep(3)  # the process starts and its stream reaches full speed
    started, cpu_started = time.monotonic(), time.process_time()
    if clients:
        lat = sorted(await verify_load(target, codes, clients, seconds))
    else:  # the stream alone, at full throughput
        await asyncio.sleep(seconds)
        lat = [0.0]
    ended, client_cpu = time.monotonic(), time.process_time() - cpu_started
    acks: list[tuple[float, float]] = []
    if with_ingest:
        stop_flag.set()
        acks = await asyncio.to_thread(results.get)
        writer.join()
    window = [latency for at, latency in acks if started <= at < ended]  # not the drain after it
    ms = [x * 1000 for x in lat]
    ack = sorted(window) or [0.0]
    return [
        clients,
        "yes" if with_ingest else "no",
        len(lat),
        f"{len(lat) / seconds:,.0f}",
        f"{percentile(ms, 0.5):.2f}",
        f"{percentile(ms, 0.99):.2f}",
        f"{percentile(ms, 0.999):.2f}",
        f"{len(window) * 100 / (ended - started):,.0f}",
        f"{percentile(ack, 0.5):.3f}" if with_ingest else "-",
        f"{percentile(ack, 0.99):.3f}" if with_ingest else "-",
        f"{100 * client_cpu / (ended - started):.0f}",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--lanes", default="0,2", help="TRACESVC_BULK_PROCESSES values to compare, comma-separated")
    parser.add_argument("--workers", default="1", help="TRACESVC_WORKERS (server processes sharing the port)")
    args = parser.parse_args()
    asyncio.run(main(args.boxes, args.seconds, args.lanes.split(","), args.workers))
