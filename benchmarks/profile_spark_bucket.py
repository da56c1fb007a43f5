"""Profile one bucket of a Spark daily run's Python work (issue 24: "profile a bucket").

Uses the lake and the database `benchmarks/spark_daily.py` left in `--pg-dir` (run it first). Builds
day D's frames as the daily run does (`lake.daily_frames`), has Spark hand one bucket of each phase
— the Arrow batches a Python worker receives — to this process, and runs the run's own task objects
(`CodeBucket`, `SaleBucket`, `BuyerBucket`) over them under cProfile, syncing to the database as an
executor does (a run recorded for the purpose, left FAILED "profile"). Prints, per phase, where the
time goes: Arrow to Python rows, merging rows, the rules, the flag sync (SQL and waiting on it).

    python benchmarks/profile_spark_bucket.py [--bucket 0] [--buckets 8] [--top 12]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.jobs import Engine, Mode, Reconciler  # noqa: E402
from reconciler.spark import lake as lake_mod  # noqa: E402
from reconciler.spark.job import session, target_of  # noqa: E402
from reconciler.spark.tasks import BuyerBucket, CodeBucket, SaleBucket  # noqa: E402
from reconciler.store.loads import load_reference  # noqa: E402
from reconciler.store.runs import mark_failed  # noqa: E402
from tracesvc.store.db import EmbeddedPostgres, create_engine, pg  # noqa: E402

# Where a bucket's time goes: the functions whose cumulative time is reported, by what they stand for.
PARTS = {
    "Arrow batches to Python rows, cut into chunks": ("chunks_by_key",),  # to_pylist is C: counted here
    "merging a code's rows (code_events_from_rows)": ("code_events_from_rows",),
    "sales and refunds decoded (JSON payloads)": ("sale_as_judged", "from_json"),
    "rules (judge_codes / judge_sales / judge_buyers)": ("judge_codes", "judge_sales", "judge_buyers"),
    "flag sync: SQL, and waiting on PostgreSQL": ("_sync",),
}


def dump_bucket(df, which: int, path: Path) -> int:
    """Write the Arrow batches of partition `which` of `df` (as its Python worker gets them) to `path`."""
    target = str(path)

    def keep(batches):
        from pyspark import TaskContext  # noqa: PLC0415 (runs in the worker)

        ctx = TaskContext.get()
        if ctx is None or ctx.partitionId() != which:
            for _ in batches:
                pass
            return
        writer = None
        with pa.OSFile(target, "wb") as sink:
            for batch in batches:
                writer = writer or pa.ipc.new_file(sink, batch.schema)
                writer.write_batch(batch)
            if writer is not None:
                writer.close()
        yield from ()

    df.mapInArrow(keep, "unused long").collect()
    return path.stat().st_size if path.exists() else 0


def profiled(task, batches: list[pa.RecordBatch]) -> tuple[float, pstats.Stats, int]:
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    counts = list(task(iter(batches)))
    prof.disable()
    elapsed = time.perf_counter() - started
    done = sum(c.column("done")[0].as_py() for c in counts)
    return elapsed, pstats.Stats(prof), done


def cumulative(stats: pstats.Stats, names: tuple[str, ...]) -> float:
    """The cumulative seconds of the functions with these names (outermost calls only: no double count
    of a recursive or nested name)."""
    total = 0.0
    for (_, _, name), (_, _, _, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name in names and not any(c[2] in names for c in callers):
            total += ct
    return total


async def main(pg_dir: Path, buckets: int, which: int, top: int) -> None:
    lake_dir = pg_dir / "lake"
    if not lake_dir.is_dir():
        raise SystemExit(f"no lake in {pg_dir}: run benchmarks/spark_daily.py first")
    server = EmbeddedPostgres(pg_dir / "pg")
    server.start()
    spark = None
    try:
        url = server.server_uri(next(d for d in await databases(server) if d.startswith("spark_bench_")))
        engine = create_engine(url)
        reference = await load_reference(engine)
        spark = session("local[2]", app="profile-bucket")
        days = lake_mod.days(spark, lake_dir)
        day = date.fromisoformat(days[-1])
        run = await Reconciler(engine).start(Mode.INCREMENTAL, engine=Engine.SPARK, day=day, lake=str(lake_dir))
        frames = lake_mod.daily_frames(spark, lake_dir, day, buckets)
        ref = SimpleNamespace(value=reference)
        dsn = target_of(url).dsn
        phases = [
            ("codes (D, L, R)", frames.codes, CodeBucket(dsn, run.run_id, ref, 2000)),
            ("sales (S)", frames.sales, SaleBucket(dsn, run.run_id, ref, 2000)),
            ("buyer tokens (B)", frames.buyers, BuyerBucket(dsn, run.run_id, ref, 2000, run.buyer_params.to_json())),
        ]
        print(f"day {day}, bucket {which} of {buckets}, local[2]")
        with tempfile.TemporaryDirectory() as tmp:
            for label, df, task in phases:
                if df is None:
                    continue
                path = Path(tmp) / f"{label[:5]}.arrow"
                started = time.perf_counter()
                size = dump_bucket(df, which, path)
                spark_s = time.perf_counter() - started
                batches = pa.ipc.open_file(str(path)).read_all().to_batches() if size else []
                rows = sum(b.num_rows for b in batches)
                elapsed, stats, done = await asyncio.to_thread(profiled, task, batches)  # the task runs its own loop
                print(
                    f"\n{label}: {done:,} keys, {rows:,} rows, {size / 2**20:.1f} MiB of Arrow; "
                    f"Python {elapsed:.2f} s under cProfile ({1e6 * elapsed / max(done, 1):.0f} µs a key); "
                    f"Spark to produce the whole frame and hand over this bucket: {spark_s:.1f} s"
                )
                for part, names in PARTS.items():
                    s = cumulative(stats, names)
                    if s:
                        print(f"  {part:<52} {s:6.2f} s  {100 * s / elapsed:4.0f} %")
                out = io.StringIO()
                stats.stream = out  # type: ignore[attr-defined]
                stats.sort_stats("tottime").print_stats(top)
                print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
        async with pg(engine) as conn:
            await mark_failed(conn, run.run_id, "profile: not a real run")
        await engine.dispose()
    finally:
        if spark is not None:
            spark.stop()
        server.stop()


async def databases(server: EmbeddedPostgres) -> list[str]:
    import asyncpg  # noqa: PLC0415

    from benchmarks.common import plain  # noqa: PLC0415

    conn = await asyncpg.connect(plain(server.server_uri("postgres")))
    try:
        return [r[0] for r in await conn.fetch("SELECT datname FROM pg_database ORDER BY datname")]
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-dir", type=Path, default=Path(tempfile.gettempdir()) / "tracesvc-spark-daily-bench")
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--bucket", type=int, default=0, help="which bucket to profile")
    parser.add_argument("--top", type=int, default=12, help="functions listed by own time")
    args = parser.parse_args()
    asyncio.run(main(args.pg_dir, args.buckets, args.bucket, args.top))
