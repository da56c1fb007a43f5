"""What metrics cost: the hooks' own cost off and on (per call), and the server's CPU time per
1,000 VerifyCodes calls and per 1,000 streamed events with TRACESVC_METRICS_LISTEN empty (off)
and set (on), in alternating off/on rounds so drift falls on both alike. CPU time of the server
process, not throughput, is the measure: other work on the machine moves it far less.

    python benchmarks/metrics.py [--calls 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import timeit
import urllib.request
from pathlib import Path
from types import SimpleNamespace as NS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, free_port, save, server, table  # noqa: E402
from benchmarks.ingest import bulk_receipts, stream, unique_events  # noqa: E402
from tracesvc import client, metrics  # noqa: E402
from tracesvc.sim import world  # noqa: E402
from tracesvc.v1 import verify_pb2 as vf  # noqa: E402
from tracesvc.v1 import verify_pb2_grpc  # noqa: E402

GROUP = 200  # events per ingest batch, as the stream groups them


def hook_costs() -> dict[str, float]:
    """Nanoseconds per call of the hooks a VerifyCodes call and a 200-event ingest batch make."""
    row = ("8610001" + "0" * 13, None, -1, True)
    drafts = [(NS(kind="RECEIPT", code_rows=lambda: [row]), []) for _ in range(GROUP)]
    acks = [NS(kind="STORED", checks=()) for _ in range(GROUP)]
    checks = [NS(verdict="SELLABLE")]

    def ns(stmt, n: int) -> float:
        return min(timeit.repeat(stmt, number=n, repeat=5)) / n * 1e9

    out = {}
    for state in ("off", "on"):
        if state == "on":
            metrics.enable()
        out[f"verdicts, 1 code ({state})"] = ns(lambda: metrics.verdicts(checks), 100_000)
        out[f"rpc series look-up ({state})"] = ns(lambda: metrics.rpc("unary", "/a.B/C"), 100_000)
        out[f"ingested, {GROUP}-event batch ({state})"] = ns(lambda: metrics.ingested(drafts, acks), 2_000)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): what the server spent, whatever else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def service_round(url: str, codes: list[tuple[str, str]], on: bool, calls: int, round_: int) -> dict[str, float]:
    """Server CPU per 1,000 VerifyCodes calls (16 clients) and per 1,000 streamed events, and the rates."""
    env = {"TRACESVC_METRICS_LISTEN": f"127.0.0.1:{free_port()}"} if on else {}
    async with server(url, **env) as (target, pid):
        await verify_calls(target, codes, 200)  # warm: connections, pool, caches
        cpu, t = cpu_seconds(pid), time.perf_counter()
        await verify_calls(target, codes, calls)
        verify_cpu, verify_wall = cpu_seconds(pid) - cpu, time.perf_counter() - t
        events = bulk_receipts(calls, 10)
        for e in events:  # fresh ids and codes every round
            e.receipt.header.event_id += f"-m{round_}-{int(on)}"
            for item in e.receipt.items:
                item.code = item.code[:8] + f"{2 * round_ + on}" + item.code[9:]
        cpu, t = cpu_seconds(pid), time.perf_counter()
        await stream(target, events, 4)
        ingest_cpu, ingest_wall = cpu_seconds(pid) - cpu, time.perf_counter() - t
        if on:  # the endpoint answers, with the counts
            port = env["TRACESVC_METRICS_LISTEN"].rsplit(":", 1)[1]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                assert b"grpc_server_handled_total" in r.read()
    return {
        "verify_cpu_ms_per_1k": verify_cpu / calls * 1e6,
        "verify_calls_per_s": calls / verify_wall,
        "ingest_cpu_ms_per_1k_events": ingest_cpu / calls * 1e6,
        "ingest_events_per_s": calls / ingest_wall,
    }


async def verify_calls(target: str, codes: list[tuple[str, str]], calls: int, clients: int = 16) -> None:
    async with client.channel(target) as ch:
        stub = verify_pb2_grpc.VerifyServiceStub(ch)

        async def one(n: int) -> None:
            for i in range(n, calls, clients):
                code, party = codes[i % len(codes)]
                await stub.VerifyCodes(vf.VerifyCodesRequest(party_id=party, codes=[vf.CodeToVerify(code=code)]))

        await asyncio.gather(*(one(n) for n in range(clients)))


async def main(calls: int, rounds: int) -> None:
    hooks = hook_costs()
    print(table("Hook cost per call", ["hook", "ns"], [[k, f"{v:,.0f}"] for k, v in hooks.items()]))
    events = unique_events(2000)
    codes = [
        (s.code, e.sale.header.party_id)
        for e in events
        if e.WhichOneof("kind") == "sale"
        for line in e.sale.lines
        for s in line.scanned
    ]
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with Bench() as bench:
        url = await bench.fresh_db()
        async with server(url) as (target, _), client.channel(target) as ch:
            await client.upsert_registry(ch, world.registry_records())
            await client.stream_events(ch, events)
        for n in range(rounds):
            for state in ("off", "on"):
                results[state].append(await service_round(url, codes, state == "on", calls, n))
    keys = ["verify_cpu_ms_per_1k", "verify_calls_per_s", "ingest_cpu_ms_per_1k_events", "ingest_events_per_s"]
    rows = [[state] + [f"{statistics.median(r[k] for r in got):,.0f}" for k in keys] for state, got in results.items()]
    print(
        table(
            f"Server with metrics off and on ({rounds} alternating rounds; medians; {calls} calls and "
            f"{calls} 10-code receipts a round)",
            ["metrics", "verify CPU ms/1k calls", "verify calls/s", "ingest CPU ms/1k events", "ingest events/s"],
            rows,
        )
    )
    print("saved", save("metrics", {"calls": calls, "rounds": rounds, "hooks_ns": hooks, "service": results}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
