"""Issue 21's table in one command: the POS sale path end to end through gRPC, beside a plain COPY of
the same rows on the same PostgreSQL, with the CPU seconds of the service, PostgreSQL and the load
generator in every phase.

    python benchmarks/pos_sale.py [--boxes 50000] [--seconds 8] [--workers 1,2]

The simulation's history (every event but sales and refunds: receipts, dispatches, transfers…) is
stored once through the write path and ANALYZEd, then copied as a template for each phase, so every
phase sells boxes received earlier by the same pharmacy into a realistic table. Rows:
  - COPY of the sales' rows (and of the notes' rows) into two unindexed tables, same commit groups,
    4 connections: the reference rate (1.00);
  - the one-code sales through StreamEvents (4 streams) and as unary RecordSale (100 a call, 4
    callers), for each TRACESVC_WORKERS value (serving processes sharing the port);
  - 100-box delivery notes through StreamEvents (4 streams);
  - VerifyCodes, 16 clients, alone and while the notes stream in (benchmarks/verify.py's loop).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import psutil  # noqa: E402

from benchmarks.common import Bench, plain, save, server, table  # noqa: E402
from benchmarks.ingest import (  # noqa: E402
    bulk_receipts,
    codes_in,
    copy_rows,
    normalized,
    rows_of,
    unary_sales,
    unique_events,
)
from benchmarks.sale_path import server_cpu  # noqa: E402
from benchmarks.verify import _row as verify_row  # noqa: E402
from tracesvc import client  # noqa: E402
from tracesvc.api import convert  # noqa: E402
from tracesvc.sim import world  # noqa: E402
from tracesvc.store import events as store  # noqa: E402
from tracesvc.store.db import create_engine  # noqa: E402
from tracesvc.v1 import events_pb2 as ev  # noqa: E402
from tracesvc.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402

SALE_CALL = 100  # sales per RecordSale call
CALLERS = 4


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (the serving processes and bulk-lane workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


class Phase:
    """Wall time and the CPU of the service, PostgreSQL and this load generator over one phase."""

    def __init__(self, bench: Bench, service_pid: int | None = None) -> None:
        self.bench, self.pid = bench, service_pid

    def __enter__(self) -> Phase:
        self.t0, self.me0 = time.perf_counter(), time.process_time()
        self.pg0 = server_cpu(self.bench)
        self.svc0 = _tree_cpu(self.pid) if self.pid else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.load = time.process_time() - self.me0
        self.pg = server_cpu(self.bench) - self.pg0
        self.svc = (_tree_cpu(self.pid) - self.svc0) if self.pid else 0.0

    def cpu(self) -> list[str]:
        return [f"{self.svc:.1f}" if self.pid else "-", f"{self.pg:.1f}", f"{self.load:.1f}"]


async def _history_template(bench: Bench, history: list) -> str:
    """A database holding the registry and the history, ANALYZEd: each phase starts from a copy."""
    url = await bench.fresh_db()
    name = f"bench_{bench.n}"  # Bench.fresh_db's naming
    engine = create_engine(url)
    try:
        from tracesvc.store.registry import upsert_parties, upsert_products

        await upsert_parties(engine, [convert.party_from_proto(p)[0] for p in world.parties()])
        await upsert_products(engine, [convert.product_from_proto(p)[0] for p in world.products()])
        for i in range(0, len(history), 200):
            await store.write_events(engine, history[i : i + 200])
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return name


async def _clone(bench: Bench, template: str) -> str:
    bench.n += 1
    name = f"bench_{bench.n}"
    conn = await asyncpg.connect(plain(bench.admin))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await conn.close()
    return bench.pg.server_uri(name)


async def _stream_sales(target: str, sales: list[ev.Event], streams: int) -> list[float]:
    """`streams` POS connections, each sending its share as fast as the service takes it; the
    send→ack latency of every sale."""
    parts = [sales[i::streams] for i in range(streams)]
    latencies: list[float] = []

    async def one(events: list[ev.Event]) -> None:
        sent: list[float] = []
        async with client.channel(target) as ch:

            async def requests():
                for e in events:
                    sent.append(time.perf_counter())
                    yield ingest_pb2.StreamEventsRequest(event=e)

            n = 0
            async for resp in ingest_pb2_grpc.IngestServiceStub(ch).StreamEvents(requests()):
                assert resp.ack.status in (1, 2), resp.ack
                latencies.append(time.perf_counter() - sent[n])
                n += 1

    await asyncio.gather(*(one(p) for p in parts))
    return sorted(latencies)


async def _unary_sales(target: str, sales: list[ev.Sale]) -> list[float]:
    latencies: list[float] = []
    await unary_sales(target, sales, CALLERS, SALE_CALL, latencies)
    return sorted(latencies)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


async def main(boxes: int, seconds: float, worker_counts: list[int]) -> None:
    events = unique_events(boxes)
    sales = [e for e in events if e.WhichOneof("kind") == "sale"]
    history = [e for e in events if e.WhichOneof("kind") not in ("sale", "sale_return")]
    notes = bulk_receipts(400, 100)
    n_sales, n_sale_codes, n_note_codes = len(sales), codes_in(sales), codes_in(notes)
    received = sum(codes_in([e]) for e in history if e.WhichOneof("kind") == "receipt")
    verify_codes = [(s.code, e.sale.header.party_id) for e in sales for line in e.sale.lines for s in line.scanned]
    rows: list[list[str]] = []

    def row(what: str, n: int, unit: str, phase: Phase, rate_of_copy: float | None, extra: str = "") -> None:
        rate = n / phase.wall
        ratio = f"{rate / rate_of_copy:.2f}" if rate_of_copy else "1.00"
        rows.append([what, f"{n:,} {unit}", f"{phase.wall:.1f}", f"{rate:,.0f}", ratio, *phase.cpu(), extra])
        print(f"  {what}: {rate:,.0f} {unit}/s ({ratio} of COPY) {extra}", file=sys.stderr, flush=True)

    with Bench() as bench:
        print(f"history: {len(history):,} events ({received:,} received codes) …", file=sys.stderr, flush=True)
        template = await _history_template(bench, normalized(history))

        async def copy_phase(label: str, evs: list[ev.Event], n: int, unit: str) -> float:
            rows_e, rows_c = rows_of(normalized(evs))
            url = await bench.fresh_db()
            with Phase(bench) as phase:
                await copy_rows(url, rows_e, rows_c, plain_tables=True, connections=4, batched=True)
            row(f"COPY of the {label}' rows, 2 plain tables, 4 connections", n, unit, phase, None)
            return n / phase.wall

        copy_sales = await copy_phase("sales", sales, n_sales, "sales")
        copy_notes = await copy_phase("notes", notes, n_note_codes, "codes")

        async def service_phase(
            what: str, env: dict[str, str], run: Callable, n: int, unit: str, copy_rate: float, lat: str
        ) -> None:
            url = await _clone(bench, template)
            async with server(url, **env) as (target, pid):
                with Phase(bench, pid) as phase:
                    latencies = await run(target)
            row(
                what,
                n,
                unit,
                phase,
                copy_rate,
                f"{lat} p50 {_pct(latencies, 0.5):.3f} s, p99 {_pct(latencies, 0.99):.3f} s",
            )

        for workers in worker_counts:
            env = {"TRACESVC_WORKERS": str(workers)}
            how = f"{workers} serving process{'es' if workers > 1 else ''}"
            await service_phase(
                f"one-code sales, StreamEvents x4, {how}",
                env,
                lambda t: _stream_sales(t, sales, 4),
                n_sales,
                "sales",
                copy_sales,
                "ack",
            )
            await service_phase(
                f"one-code sales, RecordSale {SALE_CALL}/call x{CALLERS}, {how}",
                env,
                lambda t: _unary_sales(t, [e.sale for e in sales]),
                n_sales,
                "sales",
                copy_sales,
                "call",
            )
        await service_phase(
            "100-box notes, StreamEvents x4, 1 serving process",
            {},
            lambda t: _stream_sales(t, notes, 4),
            n_note_codes,
            "codes",
            copy_notes,
            "ack",
        )
        url = await _clone(bench, template)
        verify = []
        async with server(url) as (target, pid):
            for with_bulk in (False, True):
                with Phase(bench, pid) as phase:
                    r = await verify_row(target, verify_codes, 16, with_bulk, seconds)
                verify.append(
                    [f"VerifyCodes, 16 clients, {'while notes stream in' if with_bulk else 'alone'}"]
                    + [f"{r[3]} calls/s", f"p50 {r[4]} ms", f"p99 {r[5]} ms", f"p999 {r[6]} ms"]
                    + [f"notes {r[7]} codes/s" if with_bulk else "-", *phase.cpu()]
                )
                print(f"  {verify[-1][0]}: {verify[-1][3]}", file=sys.stderr, flush=True)
    print(f"load average after: {os.getloadavg()}; cpus: {os.cpu_count()}")
    print(
        table(
            f"the POS sale path: {n_sales:,} sales ({n_sale_codes:,} codes) over {len(history):,} history events "
            f"({received:,} received codes); {n_note_codes:,} note codes",
            ["what", "work", "wall s", "per s", "÷ COPY", "service CPU s", "PostgreSQL CPU s", "load gen CPU s", ""],
            rows,
        )
    )
    print()
    print(
        table(
            f"VerifyCodes, one code a call, {seconds:.0f} s a row",
            ["what", "rate", "p50", "p99", "p999", "meanwhile", "service CPU s", "PostgreSQL CPU s", "load gen CPU s"],
            verify,
        )
    )
    print("saved", save("pos_sale", {"boxes": boxes, "rows": rows, "verify": verify}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--boxes", type=int, default=50_000, help="simulated boxes (~1.1 sales and ~4 history events each)"
    )
    parser.add_argument("--seconds", type=float, default=8, help="seconds of each VerifyCodes row")
    parser.add_argument("--workers", default="1,2", help="TRACESVC_WORKERS values for the sale rows, comma-separated")
    args = parser.parse_args()
    asyncio.run(main(args.boxes, args.seconds, [int(w) for w in args.workers.split(",")]))
