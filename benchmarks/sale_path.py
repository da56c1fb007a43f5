"""The one-code sale's write path, in process (no gRPC): PostgreSQL backend CPU per stored sale and
the time of each statement, for the sale-key look-up as it was (a join) and as it is (LATERAL probes),
beside a plain COPY of the same rows into two unindexed tables — all on one server, in one run.

    python benchmarks/sale_path.py [--boxes 20000] [--group 100]

The history (receipts, dispatches, …) of the simulation is written first through the same path and
ANALYZEd before any sale exists, as on a fresh province; then every sale, in groups of --group.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from benchmarks.common import Bench, plain, save, table  # noqa: E402
from benchmarks.ingest import copy_rows, normalized, rows_of, unique_events  # noqa: E402
from tracesvc.domain.events import Event, EventKind  # noqa: E402
from tracesvc.store import events as store  # noqa: E402
from tracesvc.store.db import create_engine  # noqa: E402

# The look-up before issue "POS sale at the database's speed", to measure against in the same run.
OLD_LOOKUP = """
SELECT event_id, content_hash, NULL::text AS party_id, NULL::text AS sale_id
FROM events WHERE event_id = ANY($1::text[])
UNION ALL
SELECT e.event_id, e.content_hash, e.party_id, e.sale_id
FROM events e JOIN unnest($2::text[], $3::text[]) AS u(party_id, sale_id)
  ON e.party_id = u.party_id AND e.sale_id = u.sale_id
WHERE e.kind = 'SALE'
"""

STATS: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])


def _time_statements() -> None:
    """Wall time of each statement the write path sends (count, seconds), keyed by its first words."""
    cls = asyncpg.connection.Connection
    for name in ("fetch", "execute", "copy_records_to_table"):
        orig = getattr(cls, name)

        async def timed(self, q, *a, _orig=orig, _name=name, **k):
            started = time.perf_counter()
            try:
                return await _orig(self, q, *a, **k)
            finally:
                s = STATS[f"{_name}: " + " ".join(str(q).split())[:60]]
                s[0] += 1
                s[1] += time.perf_counter() - started

        setattr(cls, name, timed)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu(bench: Bench) -> float:
    """CPU-seconds of the whole PostgreSQL server so far: the postmaster with its reaped children
    (backends that have exited, autovacuum workers) and the children still running. Other helpers'
    servers on the machine are not counted."""
    postmaster = int((bench.pg.data_dir / "postmaster.pid").read_text().split()[0])
    f = _stat(postmaster)
    ticks = sum(int(x) for x in f[11:15])
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                c = _stat(int(p))
            except OSError:
                continue
            if int(c[1]) == postmaster:
                ticks += int(c[11]) + int(c[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def run_sales(
    bench: Bench, url: str, history: list[Event], sales: list[Event], group: int
) -> tuple[float, float, list]:
    engine = create_engine(url)
    admin = await asyncpg.connect(plain(url))
    try:
        for i in range(0, len(history), 200):
            await store.write_events(engine, history[i : i + 200])
        await admin.execute("ANALYZE")
        STATS.clear()
        before = server_cpu(bench)
        started = time.perf_counter()
        for i in range(0, len(sales), group):
            b = sales[i : i + group]
            await store.write_events(engine, b, states_of={s.code for e in b for ln in e.lines for s in ln.scans})
        wall = time.perf_counter() - started
        cpu = server_cpu(bench) - before
        top = sorted(((k, int(n), s) for k, (n, s) in STATS.items()), key=lambda x: -x[2])[:6]
        return wall, cpu, top
    finally:
        await admin.close()
        await engine.dispose()


async def main(boxes: int, group: int) -> None:
    events = normalized(unique_events(boxes))
    history = [e for e in events if e.kind is not EventKind.SALE]
    sales = [e for e in events if e.kind is EventKind.SALE]
    _time_statements()
    rows, tops = [], {}
    with Bench() as bench:
        rows_e, rows_c = rows_of(sales)  # the rows tracesvc stores, derived columns included
        url = await bench.fresh_db()
        cpu0 = server_cpu(bench)
        copy_s = await copy_rows(url, rows_e, rows_c, plain_tables=True, connections=1, batched=True)
        cpu_copy = server_cpu(bench) - cpu0
        rows.append(
            ["COPY, 2 plain tables, same rows", f"{len(sales)}", f"{copy_s:.2f}", f"{cpu_copy:.2f}"]
            + [f"{cpu_copy / len(sales) * 1e6:,.0f}", "1.00"]
        )
        for label, sql in (
            ("sale path, look-up as a join (before)", OLD_LOOKUP),
            ("sale path, LATERAL probes (now)", None),
        ):
            saved = store._SELECT_IDS_AND_SALES
            if sql is not None:
                store._SELECT_IDS_AND_SALES = sql
            try:
                wall, cpu, top = await run_sales(bench, await bench.fresh_db(), history, sales, group)
            finally:
                store._SELECT_IDS_AND_SALES = saved
            rows.append(
                [label, f"{len(sales)}", f"{wall:.2f}", f"{cpu:.2f}", f"{cpu / len(sales) * 1e6:,.0f}"]
                + [f"{copy_s / wall:.2f}"]
            )
            tops[label] = top
    print(f"load: {os.getloadavg()}")
    print(
        table(
            f"sale path: {len(sales)} sales over {len(history)} history events, groups of {group}",
            ["what", "sales", "wall s", "PG CPU s", "PG CPU µs/sale", "rate ÷ COPY"],
            rows,
        )
    )
    for label, top in tops.items():
        print(f"\ntop statements, {label}:")
        for k, n, s in top:
            print(f"  {s:7.3f}s {n:5d}x {s / n * 1e6:8,.0f} µs  {k}")
    print("saved", save("sale_path", {"boxes": boxes, "group": group, "rows": rows, "top": tops}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=20_000)
    parser.add_argument("--group", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.boxes, args.group))
