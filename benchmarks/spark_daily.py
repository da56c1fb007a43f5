"""Spark daily run vs full run over a lake (issue 24), and the daily run when the history grows 4×.

The history is the simulator's (`benchmarks.spark_reconcile.prepare`, kept in `--pg-dir` and reused).
Its storage days are then set (the simulator stores everything "now"): the last `--day-events`
events by `occurred_at` are stored on day D (the day after the last event), every other event on its
own `occurred_at` day — so day D holds the freshest events of ~200 k boxes and buyers whose earlier
events are history. Then, each step `reconciler …` in its own process (wall time includes the process
and JVM start; the run's own seconds are from its `reconcile_runs` row):

1. `export-parquet LAKE` — the history's first load (every day), and `export-parquet LAKE --day D`;
2. a full Spark run over the lake from no flags;
3. the daily run `run --incremental --engine spark --from-parquet LAKE --day D` (on the full run's
   flags, so it must change nothing: 0 new, 0 resolved);
4. the same day over LAKE4: LAKE plus three copies of its history (every day but D) under other codes,
   event ids and buyer tokens, on earlier days — the history 4×, day D the same — then steps 3 and 4
   again, alternating, to see the spread.

    python benchmarks/spark_daily.py [--events 2300000] [--day-events 200000] [--buckets 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import plain, save, table  # noqa: E402
from benchmarks.spark_reconcile import clear, prepare, sampled  # noqa: E402
from reconciler.spark.lake import DAY_ZONE  # noqa: E402
from tracesvc.store.db import EmbeddedPostgres  # noqa: E402


async def stamp(url: str, day_events: int) -> tuple[date, int, int]:
    """Set each event's storage day; (day D, history events, day D's events)."""
    conn = await asyncpg.connect(plain(url))
    try:
        cutoff = await conn.fetchval(
            "SELECT occurred_at FROM events ORDER BY occurred_at DESC OFFSET $1 LIMIT 1", day_events
        )
        last = await conn.fetchval("SELECT max(occurred_at) FROM events")
        day = last.astimezone(DAY_ZONE).date() + timedelta(days=1)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=DAY_ZONE)
        await conn.execute(
            """UPDATE events SET received_at = CASE WHEN occurred_at > $1 THEN $2 ELSE occurred_at END
               WHERE received_at IS DISTINCT FROM (CASE WHEN occurred_at > $1 THEN $2 ELSE occurred_at END)""",
            cutoff,
            noon,
        )
        await conn.execute("VACUUM ANALYZE events")
        on_day = await conn.fetchval("SELECT count(*) FROM events WHERE received_at = $1", noon)
        total = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
    return day, total - on_day, on_day


async def last_run(url: str) -> dict:
    conn = await asyncpg.connect(plain(url))
    try:
        row = await conn.fetchrow(
            """SELECT run_id, status, mode, extract(epoch FROM finished_at - started_at) AS s, codes_done, sales_done,
                      buyers_done, flags_new, flags_resolved FROM reconcile_runs ORDER BY run_id DESC LIMIT 1"""
        )
        flags = await conn.fetchval("SELECT count(*) FROM flags WHERE status <> 'RESOLVED'")
    finally:
        await conn.close()
    assert row is not None and row["status"] == "DONE", row
    return {**dict(row), "s": float(row["s"]), "standing_flags": flags}


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def grow(lake: Path, lake4: Path, day: date, copies: int) -> dict[str, int]:
    """LAKE4 = LAKE + `copies` copies of its history (not day D) under other keys, on earlier days."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    from reconciler.spark.job import session  # noqa: PLC0415
    from reconciler.spark.lake import KEY_HASH, index_keys, read  # noqa: PLC0415

    if lake4.exists():
        shutil.rmtree(lake4)
    shutil.copytree(lake, lake4)
    spark = session("local[2]", app="grow-lake")
    rows = {}
    try:
        for name in ("code_events", "sales", "buyer_events"):
            df = read(spark, lake, name)
            assert df is not None
            history = df.where(F.col("day") != day.isoformat())
            for k in range(1, copies + 1):
                c = history
                for key in ("code", "buyer_token", "event_id"):
                    if key in c.columns:
                        c = c.withColumn(key, F.concat(F.col(key), F.lit(f"~{k}")))
                if KEY_HASH in c.columns:  # the export's hash of the (new) key
                    c = c.withColumn(KEY_HASH, F.xxhash64("code" if "code" in c.columns else "buyer_token"))
                shifted = F.date_format(F.date_sub(F.to_date("day"), 40 * k), "yyyy-MM-dd")
                c = c.withColumn("day", shifted)
                c.write.mode("append").partitionBy("day", "province", "bucket").parquet(str(lake4 / name))
            grown = read(spark, lake4, name)
            assert grown is not None
            rows[name] = grown.count()
        index_keys(spark, lake4, "local")  # the copies' days: what their exports would have written
    finally:
        spark.stop()
    return rows


def ensure_index(lake: Path) -> None:
    """A lake exported before the key index existed gets one (as a whole export now writes it)."""
    from reconciler.spark.job import session  # noqa: PLC0415
    from reconciler.spark.lake import KEY_INDEX, index_keys  # noqa: PLC0415

    if all((lake / index).is_dir() for index in KEY_INDEX.values()):
        return
    spark = session("local[2]", app="index-lake")
    try:
        index_keys(spark, lake, "local")
    finally:
        spark.stop()


@contextmanager
def without_index(lake: Path, hidden: bool) -> Iterator[None]:
    """The lake as an export before the key index left it (the index moved aside), if `hidden`."""
    from reconciler.spark.lake import KEY_INDEX  # noqa: PLC0415

    moved = [(lake / i, lake / f"_hidden_{i}") for i in KEY_INDEX.values()] if hidden else []
    for src, dst in moved:
        src.rename(dst)
    try:
        yield
    finally:
        for src, dst in moved:
            dst.rename(src)


async def main(
    events: int, day_events: int, buckets: int, pg_dir: Path, copies: int, repeats: int, reuse: bool
) -> None:
    pg = EmbeddedPostgres(pg_dir / "pg")
    pg.start()
    results: dict = {}
    try:
        url, stored, _ = await prepare(pg, events, reload=False)
        started = time.perf_counter()
        day, history, on_day = await stamp(url, day_events)
        print(f"day {day}: {on_day:,} events; history {history:,} ({time.perf_counter() - started:.0f} s)")
        env = {**os.environ, "DATABASE_URL": url}
        cli = [sys.executable, "-m", "reconciler.cli"]
        b = ["--buckets", str(buckets)]
        lake, lake4 = pg_dir / "lake", pg_dir / "lake4"
        reuse = reuse and lake.exists() and lake4.exists()
        if lake.exists() and not reuse:
            shutil.rmtree(lake)
        rows: list[list] = []

        async def step(label: str, cmd: list[str], events_read: int, is_run: bool) -> dict | None:
            wall, peaks = sampled(cmd, env, pg_dir / "pg")
            run = await last_run(url) if is_run else None
            rows.append(
                [
                    label,
                    f"{wall:.1f}",
                    f"{run['s']:.1f}" if run else "-",
                    f"{events_read / wall:,.0f}",
                    f"{peaks.cpu_of('driver', 'jvm', 'workers', 'relay'):.0f}",
                    f"{peaks.cpu_of('postgres'):.0f}",
                    f"{peaks.workers} ({peaks.worker})",
                    peaks.jvm,
                    "-" if not run else f"{run['codes_done']:,}/{run['sales_done']:,}/{run['buyers_done']:,}",
                    "-" if not run else f"{run['flags_new']}/{run['flags_resolved']}",
                ]
            )
            print(" | ".join(map(str, rows[-1])), flush=True)
            cpu = peaks.cpu_of("driver", "jvm", "workers", "relay")
            results[label] = {"wall": wall, "cpu": cpu, "run": run}
            return {"wall": wall, "cpu": cpu, **(run or {})}

        spark_run = [*cli, "run", "--engine", "spark", "--quiet", *b]
        grown: dict[str, int] = {}
        if not reuse:
            await step("export-parquet (every day)", [*cli, "export-parquet", str(lake), *b], stored, False)
            day_export = [*cli, "export-parquet", str(lake), *b, "--day", day.isoformat()]
            await step("export-parquet --day D", day_export, on_day, False)
            await clear(url)
            await step("full run, LAKE", [*spark_run, "--full", "--from-parquet", str(lake)], stored, True)
            started = time.perf_counter()
            grown = await asyncio.to_thread(grow, lake, lake4, day, copies)
            print(f"LAKE4 built in {time.perf_counter() - started:.0f} s: {grown}", flush=True)
        daily = [*spark_run, "--incremental", "--day", day.isoformat(), "--from-parquet"]
        for where in (lake, lake4):
            await asyncio.to_thread(ensure_index, where)
        datasets = ("code_events", "sales", "buyer_events", "code_keys", "buyer_keys")
        sizes = {"LAKE": {n: size(lake / n) for n in datasets}, "LAKE4": {n: size(lake4 / n) for n in datasets}}
        variants = [
            (f"{x}{tail}", where, hidden)
            for tail, hidden in (("", False), (" no index", True))
            for x, where in (("1x", lake), ("4x", lake4))
        ]
        walls: dict[str, list[float]] = {tag: [] for tag, _, _ in variants}
        runs: dict[str, list[float]] = {tag: [] for tag, _, _ in variants}
        cpus: dict[str, list[float]] = {tag: [] for tag, _, _ in variants}
        for r in range(repeats):
            for tag, where, hidden in variants:
                which = "LAKE" if tag.startswith("1x") else "LAKE4"
                label = f"daily run, {which}{' without key index' if hidden else ''} #{r + 1}"
                with without_index(where, hidden):
                    info = await step(label, [*daily, str(where)], on_day, True)
                assert info is not None and (info["flags_new"], info["flags_resolved"]) == (0, 0), info
                walls[tag].append(info["wall"])
                runs[tag].append(info["s"])
                cpus[tag].append(info["cpu"])
    finally:
        pg.stop()
    header = ["step", "wall s", "run s", "events/s wall", "CPU s", "PG CPU s", "py workers MiB (largest)"]
    header += ["JVM MiB", "codes/sales/buyers judged", "flags new/resolved"]
    title = (
        f"history {history:,} events + day {day} {on_day:,} events, local[2], {buckets} buckets "
        "(events/s: events in the lake for exports and the full run, day D's events for daily runs)"
    )
    print(table(title, header, rows))
    ratios = {}
    for suffix in ("", " no index"):  # best of the repeats: the machine's other work only adds time
        wall, run_s, cpu = ((min(m[f"4x{suffix}"]) / min(m[f"1x{suffix}"])) for m in (walls, runs, cpus))
        ratios[suffix.strip() or "index"] = {"wall": round(wall, 2), "run": round(run_s, 2), "cpu": round(cpu, 2)}
        print(
            f"daily run{' without key index' if suffix else ''}, history 4× / 1× (best of {repeats}): "
            f"{wall:.2f}× wall, {run_s:.2f}× run seconds, {cpu:.2f}× CPU seconds"
        )
    print(f"lake bytes: {sizes}; LAKE4 rows {grown}")
    path = save(
        "spark_daily",
        {
            "events": stored,
            "history": history,
            "day": day.isoformat(),
            "day_events": on_day,
            "buckets": buckets,
            "header": header,
            "rows": rows,
            "sizes": sizes,
            "lake4_rows": grown,
            "ratio_4x": ratios,
            "walls": walls,
            "run_seconds": runs,
            "cpu_seconds": cpus,
            "steps": results,
        },
    )
    print("saved", path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_300_000, help="events in the database (history + day)")
    parser.add_argument("--day-events", type=int, default=200_000)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--copies", type=int, default=3, help="history copies in LAKE4 (3: the history 4×)")
    parser.add_argument("--repeats", type=int, default=2, help="daily runs on each lake, alternating")
    parser.add_argument(
        "--pg-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tracesvc-spark-daily-bench",
        help="the embedded PostgreSQL's home (a loaded history is reused) and the lakes",
    )
    parser.add_argument(
        "--reuse-lakes",
        action="store_true",
        help="keep LAKE, LAKE4 and the flags of an earlier run of the script: daily runs only",
    )
    args = parser.parse_args()
    parser_args = (args.events, args.day_events, args.buckets, args.pg_dir, args.copies, args.repeats)
    asyncio.run(main(*parser_args, args.reuse_lakes))
