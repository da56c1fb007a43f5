"""The national job's findings back to the provinces they concern (DESIGN.md §6, issue 24): the lake side.

    findings/day=YYYY-MM-DD/province=P/part-….parquet    one row per flag the day's national run changed
                                                         (new, refreshed, resolved, reviewed), in the
                                                         partition of every province the flag concerns

`reconciler export-findings LAKE --day D` writes a day (`write_day`): staged under `LAKE/_staging/…`
and renamed into place whole, so exporting a day again replaces it and a crashed export leaves it as
it was. `reconciler import-findings LAKE --day D --province P` reads one province's (`read_province`).
Findings are few (a day's changes): they pass through the driver. Lists and the chain are JSON text;
times are Parquet timestamps (UTC).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.spark.lake import LakeFs, staging, swap_in, under
from reconciler.store import national
from reconciler.store.national import FIELDS, TIME_FIELDS, NationalFinding
from reconciler.store.runs import RunInfo
from tracesvc.store.db import pg

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

DATASET = "findings"


def schema() -> StructType:
    from pyspark.sql import types as T  # noqa: PLC0415 (optional dependency: loaded only when used)

    longs = {"money_fen", "detected_run", "national_run"}
    nullable = {"buyer_token", "resolved_at", "resolved_reason", "reviewed_by", "reviewed_at", "review_note", "chain"}
    fields = [T.StructField("province", T.StringType(), False)]
    for name in FIELDS:
        kind = T.TimestampType() if name in TIME_FIELDS else T.LongType() if name in longs else T.StringType()
        fields.append(T.StructField(name, kind, name in nullable))
    return T.StructType(fields)


def day_path(lake: str | Path, day: date) -> str:
    return under(under(lake, DATASET), f"day={day.isoformat()}")


def write_day(
    spark: SparkSession, lake: str | Path, day: date, provinces: Mapping[str, Sequence[NationalFinding]]
) -> None:
    """Write a day's findings, each in the partition of every province it concerns, replacing the day
    whole; `_manifest` in the day says how many each province has, so a reader can tell a province
    with none from one caught while the day is replaced."""
    rows = [(p, *astuple(f)) for p, found in sorted(provinces.items()) for f in found]
    with staging(spark, lake, "findings", day.isoformat()) as (fs, stage):
        staged = under(stage, "day")
        spark.createDataFrame(rows, schema()).coalesce(1).write.mode("overwrite").partitionBy("province").parquet(
            staged
        )
        counts = [(p, len(found)) for p, found in sorted(provinces.items())]
        spark.createDataFrame(counts, MANIFEST_SCHEMA).coalesce(1).write.json(under(staged, MANIFEST))
        fs.mkdirs(under(lake, DATASET))
        swap_in(fs, staged, day_path(lake, day), under(stage, "replaced"))


MANIFEST = "_manifest"  # leading underscore: not a partition
MANIFEST_SCHEMA = "province string, findings long"


class NoFindings(LookupError):
    """No (complete) export of that day's findings in the lake."""


def read_province(spark: SparkSession, lake: str | Path, day: date, province: str) -> list[NationalFinding]:
    """A province's findings of a day ([] if the day's export concerned it in nothing); NoFindings if
    the day was never exported, or is being replaced as it is read (try again)."""
    fs = LakeFs(spark, str(lake))
    if not fs.exists(day_path(lake, day)):
        raise NoFindings(f"no findings of {day.isoformat()} in {under(lake, DATASET)}: run export-findings first")
    busy = NoFindings(f"the findings of {day.isoformat()} are being exported again: try again in a minute")
    try:
        manifest = spark.read.schema(MANIFEST_SCHEMA).json(under(day_path(lake, day), MANIFEST)).collect()
        expected = {r[0]: int(r[1]) for r in manifest}.get(province, 0)
        found = _read_partition(spark, fs, under(day_path(lake, day), f"province={province}")) if expected else []
    except Exception as exc:  # the day moved aside between the listing and the read
        raise busy from exc
    if not manifest or len(found) != expected:
        raise busy
    return found


def _read_partition(spark: SparkSession, fs: LakeFs, part: str) -> list[NationalFinding]:
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    if not fs.exists(part):
        return []
    df = spark.read.schema(_stored_schema()).parquet(part)
    # Timestamps as microseconds since the epoch: collected as datetimes they would take the driver's zone.
    cols = [F.unix_micros(F.col(n)).alias(n) if n in TIME_FIELDS else F.col(n) for n in FIELDS]
    out = []
    for r in df.select(*cols).collect():
        values = r.asDict()
        for n in TIME_FIELDS:
            if values[n] is not None:
                values[n] = _EPOCH + timedelta(microseconds=values[n])
        out.append(NationalFinding(**values))
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stored_schema() -> StructType:
    """The schema of a province's files: the partition column is in the path, not in them."""
    from pyspark.sql import types as T  # noqa: PLC0415 (optional dependency: loaded only when used)

    return T.StructType([f for f in schema().fields if f.name != "province"])


# -- the two commands' work (the CLI wraps them with a session and a summary line) ----------------------


class Exported(NamedTuple):
    run_id: int
    findings: int
    provinces: dict[str, int]  # province: findings written to it
    unplaced: int  # findings naming no party the registry places in a province


async def export_day(
    engine: AsyncEngine, spark: SparkSession, lake: str | Path, day: date, run: int | RunInfo | None
) -> Exported:
    """The national side: what the day's run changed (the run, its id, or None: the day's last), to each
    province it concerns."""
    async with pg(engine) as conn:
        if not isinstance(run, RunInfo):
            run = await national.daily_run(conn, day, run)
        found = await national.changed_findings(conn, day, run)
        regions = await national.regions_of(conn, {p for f in found for p in f.parties()})
    provinces, unplaced = national.by_province(found, regions)
    await asyncio.to_thread(write_day, spark, lake, day, provinces)
    return Exported(run.run_id, len(found), {p: len(v) for p, v in provinces.items()}, unplaced)


async def import_day(
    engine: AsyncEngine, spark: SparkSession, lake: str | Path, day: date, province: str
) -> tuple[int, national.ImportCounts]:
    """The province side: its findings of the day merged into its flags, in one transaction."""
    found = await asyncio.to_thread(read_province, spark, lake, day, province)
    async with pg(engine) as conn, conn.transaction():
        counts = await national.import_findings(conn, found, datetime.now(UTC))
    return len(found), counts
