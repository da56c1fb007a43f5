"""The `reconciler` command's Spark options: `run --engine spark …` and `export-parquet DIR`.

The national daily run: each province `export-parquet LAKE --day D --province P` after day D ends
(Asia/Shanghai), then `run --incremental --engine spark --from-parquet LAKE --day D` judges the keys
day D touched, each with its whole history from the lake (`reconciler.spark.lake`).

Parsing needs no pyspark; running checks Java, pyspark and the JDBC jar first and names what
is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.jobs import RunInfo

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def add_arguments(run: argparse.ArgumentParser) -> None:
    spark = run.add_argument_group("spark engine")
    spark.add_argument("--master", default="local[2]", help="local[N], spark://host:7077, k8s://… (default local[2])")
    spark.add_argument("--buckets", type=int, default=0, help="hash buckets of codes and sales (default 4 per core)")
    spark.add_argument("--chunk", type=int, default=2000, help="codes (or sales) per flag transaction")
    spark.add_argument(
        "--from-parquet", metavar="DIR", help="read events from `export-parquet DIR` (a directory or s3a://…, hdfs://…)"
    )
    spark.add_argument("--jdbc-jar", type=Path, help="PostgreSQL JDBC jar (default /usr/share/java/postgresql.jar)")
    spark.add_argument(
        "--day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="with --incremental and --from-parquet LAKE: the daily run over the lake's day D (Asia/Shanghai)",
    )


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value}: want a day, YYYY-MM-DD (Asia/Shanghai)") from None


def add_export(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser(
        "export-parquet", help="write the events as Parquet by day stored and hash bucket, for --from-parquet"
    )
    exp.add_argument("out", metavar="DIR", help="a directory or a lake URL (s3a://…, hdfs://…)")
    exp.add_argument("--master", default="local[2]")
    exp.add_argument("--buckets", type=int, default=64)
    exp.add_argument("--jdbc-jar", type=Path)
    exp.add_argument(
        "--day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="only the events stored that day (Asia/Shanghai), replacing that day's partition whole",
    )
    exp.add_argument("--province", default="local", help="this database's name in the lake (default: local)")


async def execute(engine: AsyncEngine, run_id: int, args: argparse.Namespace, skew: timedelta) -> RunInfo:
    """Run a recorded Spark run; SIGTERM cancels it, which leaves it FAILED ("interrupted")."""
    from reconciler.spark import require  # noqa: PLC0415 (optional dependency: loaded only when used)
    from reconciler.spark.job import SparkSettings  # noqa: PLC0415 (optional dependency: loaded only when used)
    from reconciler.spark.job import execute as run_spark  # noqa: PLC0415 (optional dependency: loaded only when used)

    require(args.jdbc_jar)
    settings = SparkSettings(
        master=args.master,
        buckets=args.buckets,
        chunk=args.chunk,
        from_parquet=args.from_parquet,
        jdbc_jar=args.jdbc_jar,
        skew=skew,
    )
    task = asyncio.ensure_future(run_spark(engine, run_id, settings))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await task


@asynccontextmanager
async def _spark(args: argparse.Namespace, app: str) -> AsyncIterator[SparkSession]:
    """A Spark session for a command (`--master`, `--jdbc-jar`), stopped when it ends."""
    from reconciler.spark.job import session  # noqa: PLC0415 (optional dependency: loaded only when used)

    spark = await asyncio.to_thread(session, args.master, args.jdbc_jar, app)
    try:
        yield spark
    finally:
        await asyncio.to_thread(spark.stop)


async def export(config, args: argparse.Namespace) -> int:
    from reconciler.spark import require  # noqa: PLC0415 (optional dependency: loaded only when used)
    from reconciler.spark.job import export_parquet  # noqa: PLC0415 (optional dependency: loaded only when used)
    from tracesvc.app.server import database  # noqa: PLC0415 (optional dependency: loaded only when used)

    require(args.jdbc_jar)
    async with database(config) as engine, _spark(args, "tracesvc-reconcile") as spark:
        url = engine.url.render_as_string(hide_password=False)
        await asyncio.to_thread(
            export_parquet, spark, url, args.out, args.buckets, args.master, day=args.day, province=args.province
        )
    out = str(args.out).rstrip("/")
    which = f"day {args.day.isoformat()} of {args.province}" if args.day else f"every day of {args.province}"
    print(
        f"events of {which} written to {out}/code_events, {out}/sales, {out}/buyer_events and "
        f"{out}/retractions ({args.buckets} buckets)"
    )
    return 0


def add_findings(sub: argparse._SubParsersAction) -> None:
    """`export-findings` (the national job) and `import-findings` (each province): findings back home."""
    exp = sub.add_parser(
        "export-findings",
        help="the national side: write the flags a daily run changed to LAKE/findings, per province concerned",
    )
    exp.add_argument("lake", metavar="LAKE", help="the lake the daily run read (a directory or s3a://…, hdfs://…)")
    exp.add_argument("--day", type=_day, required=True, metavar="YYYY-MM-DD")
    exp.add_argument("--run", type=int, metavar="RUN_ID", help="default: the day's last finished daily Spark run")
    imp = sub.add_parser(
        "import-findings", help="a province: merge its national findings of a day into its flags (origin NATIONAL)"
    )
    imp.add_argument("lake", metavar="LAKE")
    imp.add_argument("--day", type=_day, required=True, metavar="YYYY-MM-DD")
    imp.add_argument("--province", required=True, help="this province's two-digit code, as in export-parquet")
    for p in (exp, imp):
        p.add_argument("--master", default="local[2]")
        p.add_argument("--jdbc-jar", type=Path)
        p.add_argument("--quiet", action="store_true", help="no progress line")


async def export_findings(config, args: argparse.Namespace) -> int:
    from reconciler.spark.feedback import export_day  # noqa: PLC0415 (optional dependency: loaded only when used)
    from reconciler.store.national import daily_run  # noqa: PLC0415 (kept beside its use)
    from tracesvc.app.server import database  # noqa: PLC0415 (optional dependency: loaded only when used)
    from tracesvc.runtime.progress import Progress  # noqa: PLC0415 (kept beside its use)
    from tracesvc.store.db import pg  # noqa: PLC0415 (kept beside its use)

    async with database(config) as engine:
        async with pg(engine) as conn:  # no such run: said before Spark starts
            run = await daily_run(conn, args.day, args.run)
        async with _spark(args, "tracesvc-findings") as spark:
            with Progress(f"export-findings {args.day.isoformat()}", "flag", enabled=not args.quiet) as progress:
                out = await export_day(engine, spark, args.lake, args.day, run)
                progress.set(out.findings)
    where = ", ".join(f"{p}: {n}" for p, n in sorted(out.provinces.items())) or "none"
    print(
        f"findings of run {out.run_id} ({args.day.isoformat()}): {out.findings} flags to "
        f"{str(args.lake).rstrip('/')}/findings/day={args.day.isoformat()} — by province {where}"
        + (f"; {out.unplaced} naming no party placed in a province" if out.unplaced else "")
    )
    return 0


async def import_findings(config, args: argparse.Namespace) -> int:
    from reconciler.spark.feedback import import_day  # noqa: PLC0415 (optional dependency: loaded only when used)
    from tracesvc.app.server import database  # noqa: PLC0415 (optional dependency: loaded only when used)
    from tracesvc.runtime.progress import Progress  # noqa: PLC0415 (kept beside its use)

    async with database(config) as engine, _spark(args, "tracesvc-findings") as spark:
        with Progress(f"import-findings {args.day.isoformat()}", "flag", enabled=not args.quiet) as progress:
            read, counts = await import_day(engine, spark, args.lake, args.day, args.province)
            progress.set(read, read)
    print(f"national findings of {args.day.isoformat()} for province {args.province}: {read} read — {counts.summary()}")
    return 0
