"""What metrics cost: the hooks' own cost off and on (per call), and the service's VerifyCodes
throughput and streaming ingest rate with TRACESVC_METRICS_LISTEN empty (off) and set (on),
alternating off/on rounds so drift falls on both alike.

    python benchmarks/metrics.py [--seconds 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import timeit
import urllib.request
from pathlib import Path
from types import SimpleNamespace as NS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, free_port, save, server, table  # noqa: E402
from benchmarks.ingest import unique_events  # noqa: E402
from benchmarks.verify import ingest_forever, verify_load  # noqa: E402
from tracesvc import client, metrics  # noqa: E402
from tracesvc.sim import world  # noqa: E402

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


async def service_round(url: str, codes: list[tuple[str, str]], on: bool, seconds: float) -> tuple[float, float]:
    """(VerifyCodes calls/s at 16 clients, ingest codes/s streamed alone) for one server."""
    env = {"TRACESVC_METRICS_LISTEN": f"127.0.0.1:{free_port()}"} if on else {}
    async with server(url, **env) as (target, _):
        lat = await verify_load(target, codes, 16, seconds)
        stop, written = asyncio.Event(), [0]
        writer = asyncio.create_task(ingest_forever(target, stop, written))
        await asyncio.sleep(1)  # warm
        start = written[0]
        await asyncio.sleep(seconds)
        stop.set()
        await writer
        if on:  # the endpoint answers, with the counts
            port = env["TRACESVC_METRICS_LISTEN"].rsplit(":", 1)[1]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                assert b"grpc_server_handled_total" in r.read()
        return len(lat) / seconds, (written[0] - start) / seconds


async def main(seconds: float, rounds: int) -> None:
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
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    with Bench() as bench:
        url = await bench.fresh_db()
        async with server(url) as (target, _), client.channel(target) as ch:
            await client.upsert_registry(ch, world.registry_records())
            await client.stream_events(ch, events)
        for _ in range(rounds):
            for state in ("off", "on"):
                results[state].append(await service_round(url, codes, state == "on", seconds))
    rows = []
    for state, got in results.items():
        verify = statistics.median(v for v, _ in got)
        ingest = statistics.median(i for _, i in got)
        rows.append([state, f"{verify:,.0f}", f"{ingest:,.0f}", " / ".join(f"{v:,.0f}" for v, _ in got)])
    print(
        table(
            f"Service with metrics off and on ({rounds} alternating rounds of {seconds:.0f} s; medians)",
            ["metrics", "VerifyCodes calls/s (16 clients)", "ingest codes/s (streamed)", "verify rounds"],
            rows,
        )
    )
    print(
        "saved",
        save(
            "metrics",
            {"seconds": seconds, "rounds": rounds, "hooks_ns": hooks, "service": {k: v for k, v in results.items()}},
        ),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds))
