"""Reconciliation: a full run over a history of N events (events/s, peak memory), and the cost
of an incremental run against the number of touched codes, with the history at N/10 and at N.

    python benchmarks/reconcile.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, save, table  # noqa: E402
from benchmarks.ingest import KEY, SimRegistry  # noqa: E402
from tracesvc.api import convert  # noqa: E402
from tracesvc.domain.events import Event, EventKind, SaleLine, Scan, normalize_event  # noqa: E402
from tracesvc.sim import world  # noqa: E402
from tracesvc.sim.generate import Simulation  # noqa: E402
from tracesvc.store.db import create_engine  # noqa: E402
from tracesvc.store.events import write_events  # noqa: E402
from tracesvc.store.registry import upsert_parties, upsert_products  # noqa: E402

TOUCHED = (100, 1_000, 10_000)


async def load(url: str, events: int) -> tuple[int, list[str]]:
    """Write a simulated history straight through the store (ingest speed is another benchmark)."""
    engine = create_engine(url)
    await upsert_parties(engine, [convert.party_from_proto(p)[0] for p in world.parties()])
    await upsert_products(engine, [convert.product_from_proto(p)[0] for p in world.products()])
    reg, seen, batch, stored, codes = SimRegistry(), set(), [], 0, []
    for what, item in Simulation(1, max(1, int(events / 4.45))).run():
        if what != "event":
            continue
        which = item.WhichOneof("kind")
        draft, _ = convert.event_from_proto(convert.ONEOF_KIND[which], getattr(item, which), KEY)
        if draft.event_id in seen:
            continue
        seen.add(draft.event_id)
        e = normalize_event(draft, reg, now=world.START.replace(year=2030))
        if e.kind is EventKind.RECEIPT and len(codes) < max(TOUCHED):
            codes.append(e.items[0].code)
        batch.append(e)
        if len(batch) == 2000:
            stored += len((await write_events(engine, batch)).results)
            batch = []
    if batch:
        stored += len((await write_events(engine, batch)).results)
    await engine.dispose()
    return stored, codes


async def touch(url: str, codes: list[str], tag: str) -> None:
    """One new sale for each of these codes: what an incremental run must re-evaluate."""
    engine = create_engine(url)
    batch = [
        Event(
            f"touch-{tag}-{n}",
            EventKind.SALE,
            "IND-01",
            world.START.replace(day=28),
            sale_id=f"T-{tag}-{n}",
            lines=(SaleLine("XC10AAA001", quantity=1, amount_fen=100, scans=(Scan(c),)),),
        )
        for n, c in enumerate(codes)
    ]
    for i in range(0, len(batch), 2000):
        await write_events(engine, batch[i : i + 2000])
    await engine.dispose()


def reconcile(url: str, mode: str) -> tuple[float, int, float]:
    """Run `reconciler run` in its own process; (seconds, peak RSS of the reconciler in MiB, its CPU seconds).

    The CPU seconds are the reconciler's own (PostgreSQL's are not in them): on a machine shared with
    other work they move less than the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "run", f"--{mode}", "--quiet"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, after.ru_maxrss // 1024, cpu


async def main(events: int) -> None:
    full_rows, inc_rows = [], []
    with Bench() as bench:
        for size in (events // 10, events):
            url = await bench.fresh_db()
            t = time.perf_counter()
            stored, codes = await load(url, size)
            load_s = time.perf_counter() - t
            seconds, peak, cpu = reconcile(url, "full")
            full_rows.append(
                [
                    f"{stored:,}",
                    f"{load_s:.0f}",
                    f"{seconds:.1f}",
                    f"{stored / seconds:,.0f}",
                    f"{cpu:.1f}",
                    f"{stored / cpu:,.0f}",
                    f"{peak} (max so far)",
                ]
            )
            for k in TOUCHED:
                await touch(url, codes[:k], f"{k}")
                seconds_inc, _, _ = reconcile(url, "incremental")
                inc_rows.append([f"{stored:,}", k, f"{seconds_inc:.2f}", f"{k / seconds_inc:,.0f}"])
    print(
        table(
            "full run",
            ["history events", "load s", "full run s", "events/s", "reconciler CPU s", "events/CPU-s", "peak RSS MiB"],
            full_rows,
        )
    )
    print(
        table(
            "incremental run (process start included)",
            ["history events", "touched codes", "seconds", "codes/s"],
            inc_rows,
        )
    )
    print("saved", save("reconcile", {"events": events, "full": full_rows, "incremental": inc_rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().events))
