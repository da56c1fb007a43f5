"""The driver of a Spark run: reference data out, partitions in parallel, counts back.

The driver loads the small reference data (parties, products) and broadcasts it, defines
the partitioned reads, and collects one row of counts per chunk; events flow from
PostgreSQL (or Parquet) to the executors and findings from the executors to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.jobs import Mode, RunInfo, Status
from reconciler.lifecycle import RunLifecycle
from reconciler.spark import lake, require, sink
from reconciler.spark.lake import Frames, under
from reconciler.spark.relay import relay
from reconciler.store.loads import count_codes, load_reference
from reconciler.store.runs import scope_of, set_codes_total
from tracesvc.store.db import asyncpg_url, pg

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[2]"
    buckets: int = 0  # 0: four per core of the cluster
    chunk: int = 2000  # codes (or sales) per transaction, as the in-process engine's batches
    from_parquet: str | Path | None = None  # a directory or a lake URL (s3a://…, hdfs://…)
    jdbc_jar: Path | None = None
    skew: timedelta = field(default=timedelta(minutes=10))


class Target(NamedTuple):
    """Where the system of record is, as JDBC and asyncpg each want it."""

    jdbc_url: str
    user: str
    password: str
    dsn: str  # asyncpg
    socket: Path | None  # a Unix socket JDBC cannot reach: relay it (local masters only)


def target_of(database_url: str) -> Target:
    url = make_url(database_url)
    host = url.host or str(url.query.get("host") or "")
    port = url.port or 5432
    dsn = asyncpg_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
    socket = Path(host) / f".s.PGSQL.{port}" if host.startswith("/") else None
    jdbc = f"jdbc:postgresql://{host or 'localhost'}:{port}/{url.database}"
    return Target(jdbc, url.username or "postgres", url.password or "", dsn, socket)


def job_group(run_id: int) -> str:
    """The Spark job group of a run: `sparkContext.cancelJobGroup(job_group(id))` stops it."""
    return f"reconcile-run-{run_id}"


def session(master: str = "local[2]", jdbc_jar: Path | None = None, app: str = "tracesvc-reconcile") -> SparkSession:
    """A SparkSession with the JDBC driver on its class path (checks Java, pyspark and the jar first)."""
    found = require(jdbc_jar)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession  # noqa: PLC0415 (optional dependency: loaded only when used)

    return (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.jars", str(found.jdbc_jar))
        .config("spark.sql.session.timeZone", "UTC")  # timestamps reach the rules as UTC, as from asyncpg
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )


@contextlib.contextmanager
def _reachable(target: Target, master: str) -> Iterator[Target]:
    """The target with a JDBC URL that works from the executors."""
    if target.socket is None:
        yield target
        return
    if not master.startswith("local"):
        raise ValueError("DATABASE_URL is a Unix socket: a cluster's executors need a TCP address of PostgreSQL")
    with relay(target.socket) as port:
        yield target._replace(jdbc_url=f"jdbc:postgresql://127.0.0.1:{port}/{target.jdbc_url.rsplit('/', 1)[1]}")


def _jdbc(
    spark: SparkSession, target: Target, query: str, buckets: int, predicates: list[str] | None = None
) -> DataFrame:
    props = {"user": target.user, "password": target.password, "driver": "org.postgresql.Driver", "fetchsize": "10000"}
    if predicates == []:
        return spark.read.jdbc(target.jdbc_url, query, properties=props)
    return spark.read.jdbc(
        target.jdbc_url, query, predicates=predicates or sink.bucket_predicates(buckets), properties=props
    )


def jdbc_frames(spark: SparkSession, target: Target, buckets: int) -> Frames:
    """Every event straight from PostgreSQL, one JDBC partition per bucket, sorted by key within it."""
    return Frames(
        _jdbc(spark, target, sink.code_events_query(buckets), buckets).sortWithinPartitions("code", "event_seq"),
        _jdbc(spark, target, sink.sales_query(buckets), buckets).sortWithinPartitions("event_id"),
        _jdbc(spark, target, sink.buyer_events_query(buckets), buckets).sortWithinPartitions("buyer_token", "event_id"),
    )


def run_day(run: RunInfo) -> date | None:
    """The lake day a daily run judges (recorded on the run at its start), None for a full run."""
    day = run.rule_params.get("day")
    return date.fromisoformat(day) if day else None


def frames_of(spark: SparkSession, target: Target, run: RunInfo, settings: SparkSettings, buckets: int) -> Frames:
    """What the run judges: everything (JDBC or the lake), or a day's keys with their histories."""
    if settings.from_parquet is None:
        return jdbc_frames(spark, target, buckets)
    day = run_day(run)
    if day is not None:
        return lake.daily_frames(spark, settings.from_parquet, day, buckets)
    return lake.full_frames(spark, settings.from_parquet, buckets)


class Totals(NamedTuple):
    codes: int
    sales: int
    buyers: int
    flags_new: int
    flags_resolved: int


def _sum(df: DataFrame | None) -> tuple[int, int, int]:
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    if df is None:
        return 0, 0, 0
    row = df.agg(F.sum("done"), F.sum("flags_new"), F.sum("flags_resolved")).collect()[0]
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def run_buckets(spark: SparkSession, target: Target, run: RunInfo, reference: Any, settings: SparkSettings) -> Totals:
    """The three Spark jobs of a run (codes, sales, buyers); only counts come back."""
    from reconciler.spark.tasks import (  # noqa: PLC0415 (optional dependency: loaded only when used)
        COUNTS_SCHEMA,
        BuyerBucket,
        CodeBucket,
        SaleBucket,
    )

    run_id = run.run_id

    sc = spark.sparkContext
    buckets = settings.buckets or 4 * sc.defaultParallelism
    sc.setJobGroup(job_group(run_id), f"reconciliation run {run_id}", interruptOnCancel=True)
    ref = sc.broadcast(reference)
    try:
        frames = frames_of(spark, target, run, settings, buckets)
        skew = settings.skew.total_seconds()
        codes = frames.codes
        c = _sum(
            None
            if codes is None
            else codes.mapInArrow(CodeBucket(target.dsn, run_id, ref, settings.chunk, skew), COUNTS_SCHEMA)
        )
        sales = frames.sales
        s = _sum(
            None
            if sales is None
            else sales.mapInArrow(SaleBucket(target.dsn, run_id, ref, settings.chunk), COUNTS_SCHEMA)
        )
        params = run.buyer_params.to_json() if run.buyer_params else None
        buyers = frames.buyers
        task = BuyerBucket(target.dsn, run_id, ref, settings.chunk, params, skew)
        b = _sum(None if buyers is None else buyers.mapInArrow(task, COUNTS_SCHEMA))
    finally:
        ref.destroy()
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return Totals(c[0], s[0], b[0], c[1] + s[1] + b[1], c[2] + s[2] + b[2])


async def execute(
    engine: AsyncEngine, run_id: int, settings: SparkSettings, spark: SparkSession | None = None
) -> RunInfo:
    """Do a recorded run on Spark to its end; a failure leaves it FAILED with the reason, and raises."""
    database_url = engine.url.render_as_string(hide_password=False)
    life = RunLifecycle(engine, run_id)
    run = await life.begin(from_scratch=True)
    if run.status is Status.DONE:
        return run
    try:
        if settings.from_parquet is None and run.rule_params.get("lake"):  # resumed: the lake it started on
            settings = replace(settings, from_parquet=run.rule_params["lake"])
        if run_day(run) is not None:
            if settings.from_parquet is None:
                raise ValueError("a daily run reads the day from the lake: give --from-parquet LAKE")
        elif run.mode is not Mode.FULL or run.window_from or run.window_to:
            raise ValueError(
                "the Spark engine does full runs over all codes and daily runs over a lake day (--day); "
                "other incremental and windowed runs are the in-process engine's"
            )
        reference = await load_reference(engine)
        if settings.from_parquet is None:
            async with pg(engine) as conn:
                await count_codes(conn, run_id, scope_of(run))
        own = spark is None
        active = spark if spark is not None else await asyncio.to_thread(session, settings.master, settings.jdbc_jar)
        try:
            with _reachable(target_of(database_url), settings.master) as target:
                totals = await asyncio.to_thread(run_buckets, active, target, run, reference, settings)
        finally:
            if own:
                await asyncio.to_thread(active.stop)
        if settings.from_parquet is not None:
            async with pg(engine) as conn:
                await set_codes_total(conn, run_id, totals.codes)
    except BaseException as exc:
        await life.fail(exc)
        raise
    return await life.done()


def _keyed(name: str, df: DataFrame) -> DataFrame:
    """A dataset with its key's 64-bit hash (`lake.KEY_HASH`), which a daily run's first pass reads."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    key = lake.KEY_OF.get(name)
    return df if key is None else df.withColumn(lake.KEY_HASH, F.xxhash64(key))


def export_parquet(
    spark: SparkSession,
    database_url: str,
    out: str | Path,
    buckets: int,
    master: str = "local[2]",
    *,
    day: date | None = None,
    province: str = "local",
) -> None:
    """Write the events as Parquet by day stored, province and bucket (`lake`): all of them (each day's
    partitions of this province replaced, others kept), or one day's, swapped in whole."""
    with _reachable(target_of(database_url), master) as target:
        queries = {
            "code_events": sink.code_events_query(buckets, export=True, day=day),
            "sales": sink.sales_query(buckets, export=True, day=day),
            "buyer_events": sink.buyer_events_query(buckets, export=True, day=day),
        }
        # A few JDBC partitions, each one query (a query per bucket would scan the tables once per bucket).
        n = max(1, min(buckets, spark.sparkContext.defaultParallelism))
        predicates = [f"mod(bucket, {n}) = {i}" for i in range(n)]
        if day is None:
            from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

            lake.drop_index(spark, out, province)  # until it is written again: no index that misses new keys
            for name, query in [*queries.items(), ("retractions", sink.retractions_query())]:
                df = _keyed(name, _jdbc(spark, target, query, buckets, [] if name == "retractions" else predicates))
                parts = ["day", "province"] if name == "retractions" else ["day", "province", "bucket"]
                df.withColumn("province", F.lit(province)).write.mode("overwrite").option(
                    "partitionOverwriteMode", "dynamic"
                ).partitionBy(*parts).parquet(under(out, name))
            lake.index_keys(spark, out, province)
            return

        def staged() -> Iterator[lake.DayExport]:
            for name, query in queries.items():
                df = _keyed(name, _jdbc(spark, target, query, buckets, predicates))
                yield lake.DayExport(name, df.drop("day"), True)
            rx = _jdbc(spark, target, sink.retractions_query(day), buckets, []).drop("day")
            yield lake.DayExport("retractions", rx, False)

        lake.commit_day(spark, out, day, province, staged())
