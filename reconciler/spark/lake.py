"""The lake (DESIGN.md §6): each province's events as Parquet by the day they were stored and by code
bucket, written by `reconciler export-parquet`, and what a Spark run reads of it.

Layout under LAKE (a directory or a lake URL: s3a://…, hdfs://…):

    code_events/day=YYYY-MM-DD/province=P/bucket=B/part-….parquet   rules D, L, R (one row per code and event,
                                                                      with key_hash = xxhash64(code))
    sales/day=…/province=…/bucket=…/…                                rule S (bucket of the sale)
    buyer_events/day=…/province=…/bucket=…/…                         rule B (bucket of the buyer token;
                                                                      key_hash = xxhash64(buyer_token))
    retractions/day=…/province=…/…                                   event ids retracted (EPCIS errorDeclaration,
                                                                      NHSA 3507) that day
    code_keys/day=…/province=…/part-….parquet                        the key index: each day's distinct key_hash
    buyer_keys/day=…/province=…/…                                    of code_events / buyer_events, sorted, one
                                                                      file per day and province

The key index is what lets a daily run find the days that hold its keys' histories by reading one small
file per day and province, instead of listing and opening every bucket file of the history (DESIGN §6:
the day's cost, not the history's). Days exported before it existed are read the old way.

A row's day is the calendar day in Asia/Shanghai of its `received_at` (when the province stored it),
not of its `occurred_at`: an event uploaded late lands in the day it arrived, and the daily run that
reads that day judges its code's whole history again. A refund's row for rule B belongs to the later
of its own arrival and its sale's (the pair is known only when both are stored). A retraction's day is
when it was stored.

A day's export is staged under `LAKE/_staging/…` (which no reader lists) and then renamed into place,
dataset by dataset, after every dataset of the day is written: a crashed export leaves the day as it
was, and a second export of the same day replaces it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DAY_ZONE = ZoneInfo("Asia/Shanghai")  # the national platform's calendar day
DATASETS = ("code_events", "sales", "buyer_events", "retractions")
KEY_INDEX = {"code_events": "code_keys", "buyer_events": "buyer_keys"}  # dataset -> its key index
KEY_OF = {"code_events": "code", "buyer_events": "buyer_token"}  # dataset -> the key its key_hash hashes
STAGING = "_staging"  # leading underscore: Spark's file listing skips it
STALE_STAGING = timedelta(hours=24)  # a staged export this old was left by a crash: removed by the next one


def under(base: str | Path, name: str) -> str:
    """`base/name` for a local directory or a lake URL: a Path would turn `s3a://lake` into `s3a:/lake`."""
    return f"{str(base).rstrip('/')}/{name}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a day (Asia/Shanghai) begins and ends: `received_at` in [start, end)."""
    start = datetime.combine(day, time(), DAY_ZONE)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def day_sql(column: str) -> str:
    """The day of a timestamptz column, in SQL, as the partition value."""
    return f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"


def received_between(column: str, day: date | None) -> str:
    """SQL: `column` falls in the day (Asia/Shanghai), or `true` for a whole export."""
    if day is None:
        return "true"
    start, end = day_bounds(day)
    return f"({column} >= '{start.isoformat()}'::timestamptz AND {column} < '{end.isoformat()}'::timestamptz)"


# -- the file system (Hadoop's: a local directory, HDFS or an object store alike) -------------------------


class LakeFs:
    def __init__(self, spark: SparkSession, base: str) -> None:
        jvm = spark._jvm
        assert jvm is not None
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(base).getFileSystem(spark._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._path(path))

    def rename(self, src: str, dst: str) -> None:
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def glob(self, pattern: str) -> list[str]:
        """The paths matching a glob (`*` within one level), as strings."""
        found = self._fs.globStatus(self._path(pattern))
        return [str(st.getPath().toString()) for st in (found or [])]

    def children(self, path: str) -> list[str]:
        """The names of a directory's entries (none if it does not exist)."""
        if not self.exists(path):
            return []
        return [str(st.getPath().getName()) for st in self._fs.listStatus(self._path(path))]


def stage_for(lake: str | Path, *what: str) -> str:
    """A new staging directory under `LAKE/_staging/`, named by its creation time (epoch seconds) first:
    an object store reports a directory's modification time as 0, so its age is read from its name."""
    token = "-".join([f"at{int(datetime.now(UTC).timestamp())}", *what, uuid.uuid4().hex[:12]])
    return under(under(lake, STAGING), token)


def remove_stale_stages(fs: LakeFs, lake: str | Path) -> None:
    """Remove staged exports older than STALE_STAGING (left by a crash: a live export renames or deletes
    its own). A name that does not start with its creation time (`at<epoch seconds>-`) is left alone."""
    cutoff = (datetime.now(UTC) - STALE_STAGING).timestamp()
    for name in fs.children(under(lake, STAGING)):
        born = name.split("-", 1)[0].removeprefix("at")
        if name.startswith("at") and born.isdigit() and int(born) < cutoff:
            fs.delete(under(under(lake, STAGING), name))


@contextmanager
def staging(spark: SparkSession, lake: str | Path, *what: str) -> Iterator[tuple[LakeFs, str]]:
    """(the lake's file system, a new staging directory) for an export that swaps its result in: stale
    stages are removed first, and this one is deleted at the end, whether the swap happened or not."""
    fs = LakeFs(spark, str(lake))
    remove_stale_stages(fs, lake)
    stage = stage_for(lake, *what)
    try:
        yield fs, stage
    finally:
        fs.delete(stage)


def swap_in(fs: LakeFs, staged: str, target: str, aside: str) -> None:
    """Move a staged partition to `target`, the old one (if any) moved to `aside` first. One exporter per
    partition: if another export puts one there meanwhile, fail rather than nest one inside the other
    (a rename onto an existing directory moves the source into it)."""
    if fs.exists(target):
        fs.rename(target, aside)
    if fs.exists(target):
        raise OSError(f"another export is writing {target}: one export per day and province at a time")
    fs.rename(staged, target)


class DayExport(NamedTuple):
    """What one day's export stages: each dataset's frame and where it goes."""

    name: str
    frame: DataFrame
    bucketed: bool


def commit_day(spark: SparkSession, lake: str | Path, day: date, province: str, staged: Iterator[DayExport]) -> None:
    """Write each dataset of a day (and the key index of code_events and buyer_events) under the staging
    directory, then swap them all into place.

    Nothing under `LAKE/<dataset>/day=D/province=P` changes until every dataset is written; the swap
    is a rename per dataset (the old partition moved aside first, then deleted). Staged exports older
    than a day — left by a crash, since a live export renames or deletes its own — are removed first."""
    with staging(spark, lake, day.isoformat(), province) as (fs, stage):
        names = []
        for item in staged:
            writer = item.frame.write.mode("overwrite")
            if item.bucketed:
                writer = writer.partitionBy("bucket")
            writer.parquet(under(stage, item.name))
            names.append(item.name)
            if item.name in KEY_INDEX:  # from the staged files: the database is not read twice
                written = _load(spark, under(stage, item.name), [under(stage, item.name)])
                keys = (
                    spark.createDataFrame([], f"{KEY_HASH} bigint")  # no row that day: an empty index, not none
                    if written is None
                    else written.select(KEY_HASH).distinct()
                )
                keys.coalesce(1).sortWithinPartitions(KEY_HASH).write.parquet(under(stage, KEY_INDEX[item.name]))
        # The old index goes first and the new one comes last: in between (or after a crash there) the day
        # has no index and is searched through its rows — never an index that misses the day's new keys.
        indexes = [KEY_INDEX[n] for n in names if n in KEY_INDEX]
        for index in indexes:
            fs.delete(partition_path(lake, index, day, province))
        for name in [*names, *indexes]:
            fs.mkdirs(under(under(lake, name), f"day={day.isoformat()}"))
            swap_in(fs, under(stage, name), partition_path(lake, name, day, province), under(stage, f"replaced-{name}"))


def drop_index(spark: SparkSession, lake: str | Path, province: str) -> None:
    """Remove a province's key index, every day (before a whole export rewrites its days: until
    `index_keys` writes it again, those days are searched through their rows, never a stale index)."""
    fs = LakeFs(spark, str(lake))
    for index in KEY_INDEX.values():
        for path in fs.glob(under(under(lake, index), f"day=*/province={province}")):
            fs.delete(path)


def index_keys(spark: SparkSession, lake: str | Path, province: str) -> None:
    """Write the key index of every day of a province's code_events and buyer_events (after a whole
    export): one sorted file per day, each day's partition of this province replaced."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    for name, index in KEY_INDEX.items():
        df = read(spark, lake, name)
        if df is None:
            continue
        keys = df.where(F.col("province") == province).select(KEY_HASH, "day", "province").distinct()
        keys.repartition("day").sortWithinPartitions(KEY_HASH).write.mode("overwrite").option(
            "partitionOverwriteMode", "dynamic"
        ).partitionBy("day", "province").parquet(under(lake, index))


# -- reading --------------------------------------------------------------------------------------------


def _load(spark: SparkSession, base: str, paths: list[str]) -> DataFrame | None:
    """These partition directories of a dataset (under `base`), with `day` and `province` as strings and
    the other partition columns inferred; None if there is none or they hold no file yet."""
    if not paths:
        return None
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")  # day, province: text
    try:
        return spark.read.option("basePath", base).parquet(*paths)
    except Exception as exc:  # directories with no file (only empty days exported)
        if "UNABLE_TO_INFER_SCHEMA" in str(exc) or "Unable to infer schema" in str(exc):
            return None
        raise


def read(spark: SparkSession, lake: str | Path, name: str) -> DataFrame | None:
    """A dataset of the lake, every day (lists every file), or None if no export wrote it yet."""
    path = under(lake, name)
    return _load(spark, path, [path]) if LakeFs(spark, str(lake)).exists(path) else None


def read_day(spark: SparkSession, lake: str | Path, name: str, day: date) -> DataFrame | None:
    """One day of a dataset (every province), without listing the other days; None if absent."""
    path = under(lake, name)
    part = under(path, f"day={day.isoformat()}")
    return _load(spark, path, [part]) if LakeFs(spark, str(lake)).exists(part) else None


def partitions(spark: SparkSession, lake: str | Path, name: str) -> set[tuple[str, str]]:
    """The (day, province) partitions of a dataset, from one listing of its directories (no file opened)."""
    found = set()
    for path in LakeFs(spark, str(lake)).glob(under(under(lake, name), "day=*/province=*")):
        day_dir, province_dir = path.rstrip("/").rsplit("/", 2)[-2:]
        found.add((day_dir.removeprefix("day="), province_dir.removeprefix("province=")))
    return found


def _partition_paths(lake: str | Path, name: str, parts: set[tuple[str, str]]) -> list[str]:
    return [partition_path(lake, name, d, p) for d, p in sorted(parts)]


def _code_rows(df: DataFrame) -> DataFrame:
    """Lake rows as the rules read them. Event ids are unique across provinces, storage positions are
    not: `event_seq` (which merges one code's lines of one sale) becomes a hash of the event id."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    return df.withColumn("event_seq", F.xxhash64("event_id")).drop("day", "province", "bucket", KEY_HASH)


def _without_retracted(df: DataFrame, retractions: DataFrame | None) -> DataFrame:
    """Rows of events retracted since they were exported left out (the export left out earlier ones)."""
    if retractions is None:
        return df
    return df.join(retractions.select("event_id").distinct(), "event_id", "left_anti")


def _sales_rows(df: DataFrame, retractions: DataFrame | None) -> DataFrame:
    """Sales with `retracted` also true for a retraction stored after their export."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    df = df.drop("day", "province", "bucket")
    if retractions is None:
        return df
    later = retractions.select("event_id").distinct().withColumn("_later", F.lit(True))
    return (
        df.join(later, "event_id", "left")
        .withColumn("retracted", F.col("retracted") | F.coalesce(F.col("_later"), F.lit(False)))
        .drop("_later")
    )


class Frames(NamedTuple):
    """What a run's three phases judge: code event rows, sales, buyer rows (None: nothing to judge)."""

    codes: DataFrame | None
    sales: DataFrame | None
    buyers: DataFrame | None


def by_key(frames: Frames, buckets: int) -> Frames:
    """Each frame in `buckets` partitions by its key, sorted by it within each (as the tasks want them).

    Partitioned by a hash of the key, not by the key itself: a repartition by the key right after a
    join on it (same key, as many partitions) is dropped by the planner as redundant, and adaptive
    execution may then read the join's shuffle locally once it turns the join into a broadcast one —
    spreading a key's rows over several tasks, so one token would be judged from part of its history
    (seen at 2.6 M events with 8 buckets; mapInArrow states no required distribution to prevent it)."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    def part(df: DataFrame | None, *key: str) -> DataFrame | None:
        return None if df is None else df.repartition(buckets, F.xxhash64(key[0])).sortWithinPartitions(*key)

    return Frames(
        part(frames.codes, "code", "event_seq"),
        part(frames.sales, "event_id"),
        part(frames.buyers, "buyer_token", "event_id"),
    )


def full_frames(spark: SparkSession, lake: str | Path, buckets: int) -> Frames:
    """Every day of the lake: a full run."""
    rx = read(spark, lake, "retractions")
    codes, sales, buyers = (read(spark, lake, n) for n in ("code_events", "sales", "buyer_events"))
    frames = Frames(
        None if codes is None else _without_retracted(_code_rows(codes), rx),
        None if sales is None else _sales_rows(sales, rx),
        None if buyers is None else buyers.drop("day", "province", "bucket", KEY_HASH),
    )
    return by_key(frames, buckets)


def _histories(spark: SparkSession, lake: str | Path, name: str, keys: DataFrame) -> DataFrame | None:
    """Every row of these keys in a dataset, whatever its day, in two reads: the key index (one small
    sorted file of key hashes per day and province) finds the partitions that hold any of them; then only
    those partitions are read whole. Partitions exported before the index existed are searched by their
    rows' key_hash column instead. A collision of hashes only adds a partition: the second read joins
    on the key itself."""
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    small = keys.count() <= BROADCAST_KEYS  # the planner cannot tell: it estimates a day's keys by file size

    def sent(k: DataFrame) -> DataFrame:
        return F.broadcast(k) if small else k

    key = KEY_OF[name]
    hashes = keys.select(F.xxhash64(key).alias(KEY_HASH)).distinct()
    index = KEY_INDEX[name]
    held = partitions(spark, lake, name)
    indexed = held & partitions(spark, lake, index)
    candidates = []
    if (idx := _load(spark, under(lake, index), _partition_paths(lake, index, indexed))) is not None:
        candidates.append(idx.join(sent(hashes), KEY_HASH, "left_semi").select("day", "province"))
    if (old := _load(spark, under(lake, name), _partition_paths(lake, name, held - indexed))) is not None:
        if KEY_HASH in old.columns:
            candidates.append(old.select(KEY_HASH, "day", "province").join(sent(hashes), KEY_HASH, "left_semi"))
        else:  # exported before key_hash: the key itself
            candidates.append(old.select(key, "day", "province").join(sent(keys), key, "left_semi"))
    found: set[tuple[str, str]] = set()
    for c in candidates:
        found.update((r[0], r[1]) for r in c.select("day", "province").distinct().collect())
    rows = _load(spark, under(lake, name), _partition_paths(lake, name, found))
    return None if rows is None else rows.join(sent(keys), key, "left_semi")


BROADCAST_KEYS = 2_000_000  # a day's keys sent whole to every task up to this many (~100 MB), else shuffled
KEY_HASH = "key_hash"  # xxhash64 of the row's key (code, buyer token) in code_events and buyer_events


class _Retracted(NamedTuple):
    """The events retracted on a day: by the lake day each was stored, and those of no known day."""

    located: dict[str, list[str]]  # the event's lake day: its event ids
    unlocated: list[str]  # stored by no province's export of this lake that says so (or exported before it did)

    @classmethod
    def of(cls, retractions: DataFrame | None) -> _Retracted:
        located: dict[str, list[str]] = {}
        unlocated: list[str] = []
        if retractions is not None:
            dated = "target_day" in retractions.columns
            for r in retractions.select("event_id", "target_day" if dated else "event_id").distinct().collect():
                if dated and r[1]:
                    located.setdefault(r[1], []).append(r[0])
                else:
                    unlocated.append(r[0])
        return cls(located, unlocated)

    def rows(self, spark: SparkSession, lake: str | Path, name: str) -> DataFrame | None:
        """A dataset's rows of these events: from the day each was stored, or (for an event of no known
        day) from every day — one column of the whole history, the rare case."""
        from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

        parts = []
        for stored, ids in sorted(self.located.items()):
            if (df := read_day(spark, lake, name, date.fromisoformat(stored))) is not None:
                parts.append(df.where(F.col("event_id").isin(ids)))
        if self.unlocated and (every := read(spark, lake, name)) is not None:
            parts.append(every.where(F.col("event_id").isin(self.unlocated)))
        if not parts:
            return None
        out = parts[0]
        for more in parts[1:]:
            out = out.unionByName(more)
        return out


def daily_frames(spark: SparkSession, lake: str | Path, day: date, buckets: int) -> Frames:
    """The keys day D touches, each with its whole history from the lake (a semi-join on the key, on
    the days that hold the key: `_histories`), and nothing else.

    Codes: every code with a row stored that day, or whose event a retraction stored that day names;
    of those, only codes that can produce a finding or had one (a SALE in their history — rules D, L,
    R are each decided by a sale, `judging.may_find` — or touched by a retraction, whose old flags may
    now go), decided in Spark so no other code's rows reach Python. Sales: those stored that day, and
    those retracted that day. Buyer tokens: those with a sale, or a refund of one, stored that day.
    A retracted event's rows are read from the day it was stored (the retraction's `target_day`)."""
    from pyspark.sql import Window  # noqa: PLC0415 (optional dependency: loaded only when used)
    from pyspark.sql import functions as F  # noqa: PLC0415 (optional dependency: loaded only when used)

    d = day.isoformat()
    fs = LakeFs(spark, str(lake))
    if not any(fs.exists(under(under(lake, name), f"day={d}")) for name in DATASETS):
        raise ValueError(f"the lake {lake} holds no day {d}: no province has exported it (export-parquet --day {d})")
    rx = read(spark, lake, "retractions")  # every day's: an event exported earlier may be retracted since
    retracted = _Retracted.of(read_day(spark, lake, "retractions", day))

    codes = None
    touched = None if (ce := read_day(spark, lake, "code_events", day)) is None else ce.select("code")
    by_retraction = None
    if (gone := retracted.rows(spark, lake, "code_events")) is not None:
        by_retraction = gone.select("code")
        touched = by_retraction if touched is None else touched.unionByName(by_retraction)
    if touched is not None and (rows := _histories(spark, lake, "code_events", touched.distinct())) is not None:
        history = _without_retracted(_code_rows(rows), rx)
        keep = F.max((F.col("kind") == "SALE").cast("int")).over(Window.partitionBy("code")) == 1
        if by_retraction is not None:
            history = history.join(by_retraction.distinct().withColumn("_rx", F.lit(True)), "code", "left").withColumn(
                "_rx", F.coalesce(F.col("_rx"), F.lit(False))
            )
            keep = keep | F.col("_rx")
        codes = history.withColumn("_keep", keep).where("_keep").drop("_keep", "_rx")

    sales = None
    parts = [df for df in (read_day(spark, lake, "sales", day), retracted.rows(spark, lake, "sales")) if df is not None]
    if parts:
        today = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1]).dropDuplicates(["event_id"])
        sales = _sales_rows(today, rx)

    buyers = None
    if (be := read_day(spark, lake, "buyer_events", day)) is not None:
        tokens = be.select("buyer_token").distinct()
        if (rows := _histories(spark, lake, "buyer_events", tokens)) is not None:
            buyers = rows.drop("day", "province", "bucket", KEY_HASH)
    return by_key(Frames(codes, sales, buyers), buckets)


def days(spark: SparkSession, lake: str | Path) -> list[str]:
    """The days the lake holds (any dataset), oldest first."""
    out: set[str] = set()
    for name in DATASETS:
        df = read(spark, lake, name)
        if df is not None:
            out.update(r[0] for r in df.select("day").distinct().collect())
    return sorted(out)


def partition_path(lake: str | Path, name: str, day: date | str, province: str) -> str:
    return under(under(lake, name), f"day={day if isinstance(day, str) else day.isoformat()}/province={province}")
