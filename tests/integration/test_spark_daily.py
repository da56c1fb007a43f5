"""The national daily run (DESIGN.md §6): N days exported to the lake and N daily Spark runs leave exactly
the flags of one full run over the same N days, in-process or on Spark; a day's export replaces that
day whole and a crashed one leaves it as it was.

Real Spark (local[2], the session shared with test_spark_engine.py) against the real embedded
PostgreSQL. Days are lake days: an event's day is when it was stored (`received_at`, Asia/Shanghai),
which the test sets for each day's events after sending them, as a province's clock would have.
"""

from __future__ import annotations

import asyncio
import shutil
import time as time_module
from datetime import date, datetime, time, timedelta

import asyncpg
import grpc
import pyarrow.parquet as pq
import pytest
from grpc_status import rpc_status

from reconciler.cli import _check_spark, build_parser
from reconciler.jobs import Engine, Mode, Reconciler, RunInfo, Status
from reconciler.spark.job import SparkSettings, execute, export_parquet
from reconciler.spark.lake import DAY_ZONE, KEY_HASH, KEY_INDEX, partition_path, read, read_day
from tests import builders as b
from tests.integration.test_intake_http import running
from tests.integration.test_registry_api import violations_of
from tests.reconcile_helpers import run
from tests.stories import dataset
from tests.unit.nhsa_samples import envelope, sale_row
from tracesvc import client
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.store.db import asyncpg_url
from tracesvc.v1 import reconcile_pb2, reconcile_pb2_grpc, registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.slow

DAYS = [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]
BUCKETS = 8  # as many as the session's shuffle partitions: a repartition by key after a join on it is redundant
_FLAG_COLUMNS = (
    "flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region, "
    "related_parties, evidence, money_fen, detail, status, review_note, buyer_token"
)
_CHAIN_COLUMNS = (
    "flag_id, code, originals::text, reentry::text, resales::text, buyer_tokens, "
    "original_sellers, reentry_party, reentry_supplier, resale_parties, money_fen"
)


async def standing(raw_db) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """The flags that stand (not RESOLVED) and the active chains, field by field, by flag id."""
    flags = await raw_db.fetch(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE status <> 'RESOLVED'")
    chains = await raw_db.fetch(f"SELECT {_CHAIN_COLUMNS} FROM return_chains WHERE active")
    return {r["flag_id"]: tuple(r) for r in flags}, {r["flag_id"]: tuple(r) for r in chains}


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), DAY_ZONE)


async def _store_on(service, raw_db, events, day: date) -> None:
    """Send events, then date their storage to `day` (the province stored them that day)."""
    mark = await raw_db.fetchval("SELECT coalesce(max(event_seq), 0) FROM events")
    acks = await client.stream_events(service.channel, events)
    assert all(a.status in (1, 2) for a in acks), [a.error.message for a in acks if a.status not in (1, 2)]
    await raw_db.execute("UPDATE events SET received_at = $1 WHERE event_seq > $2", _noon(day), mark)


async def _export(service, spark, lake, day: date | None) -> None:
    url = service.engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(export_parquet, spark, url, lake, BUCKETS, day=day)


async def _daily(service, spark, lake, day: date) -> RunInfo:
    info = await Reconciler(service.engine).start(Mode.INCREMENTAL, engine=Engine.SPARK, day=day)
    done = await execute(service.engine, info.run_id, SparkSettings(buckets=BUCKETS, from_parquet=lake), spark)
    assert done.status is Status.DONE and done.engine is Engine.SPARK and done.mode is Mode.INCREMENTAL
    return done


async def _world(service) -> list:
    """The simulated world's registry, and its events (late and out of order, some sent twice)."""
    await client.upsert_registry(service.channel, world.registry_records())
    sim = Simulation(5, 150, fraud_rate=0.5)
    await registry_pb2_grpc.RegistryServiceStub(service.channel).UpsertCommissionedCodes(
        registry_pb2.UpsertCommissionedCodesRequest(prefix=world.LISTED, codes=list(sim.commissioned()))
    )
    return [item for what, item in sim.run() if what == "event"]


def _stories() -> tuple[list[list], dict[str, str]]:
    """Per day, the events of three stories the differential must get right, on top of the simulated world:
    a box sold in Beijing and re-entered and resold in Shanghai the next day (R, with its chain); a sale
    of day 1 that reaches the lake only on day 3 (a D finding found late); and a refund stored on day 3,
    back-dated before the resale it undoes, that resolves day 2's D flag."""
    sim = Simulation(99, 1)
    t = world.START + timedelta(days=20)
    drug = world.DRUGS[0]
    box = {k: drug.canonical(9_100_000_000 + n) for n, k in enumerate("ABC")}

    def sold(eid, party, at, buyer, code):
        return sim.sale(
            eid, party, at, buyer, [(drug.insurance_code, drug.name, False, 1, drug.price_fen, [(code, None)])]
        )

    def supplied(key, store, at):
        return [
            sim.receipt(f"x{key}-w", "WHS-01", "MFR-01", box[key], at - timedelta(days=2)),
            sim.receipt(f"x{key}-r", store, "WHS-01", box[key], at - timedelta(days=1)),
        ]

    day1 = [
        *supplied("A", "IND-01", t),
        sold("xA-s", "IND-01", t, "110101199001010011", box["A"]),
        *supplied("B", "IND-02", t),
        sold("xB-s", "IND-02", t, "110101199001010012", box["B"]),
        *supplied("C", "IND-01", t),
    ]
    day2 = [
        sim.receipt("xA-in", "KY-S1", "WHS-02", box["A"], t + timedelta(days=1)),
        sold("xA-resale", "KY-S1", t + timedelta(days=1, hours=2), "310101199001010022", box["A"]),
        sold("xC-s1", "IND-01", t + timedelta(days=1, hours=10), "110101199001010013", box["C"]),
        sold("xC-s2", "IND-02", t + timedelta(days=1, hours=14), "110101199001010014", box["C"]),
    ]
    day3 = [
        sold("xB-late", "IND-03", t + timedelta(hours=1), "110101199001010015", box["B"]),
        sim.refund("xC-ret", "IND-01", "xC-s1", box["C"], t + timedelta(days=1, hours=11)),
    ]
    return [day1, day2, day3], box


async def _flag(raw_db, rule: str, kind: str, decisive: str) -> str | None:
    return await raw_db.fetchval(
        "SELECT status FROM flags WHERE rule = $1 AND kind = $2 AND decisive_event_id = $3", rule, kind, decisive
    )


@pytest.fixture
def late_broadcasts(spark):
    """Joins planned as sort-merge and turned into broadcast joins by adaptive execution at run time (as
    at national sizes, where the planner's estimates are large and a day's keys turn out small), so the
    differential also covers that plan. (At this size it did not reproduce the split the benchmark
    found — a key's rows come from one map task here; the benchmark's 0-new/0-resolved check at
    2.66 M events is what caught it.)"""
    conf = spark.conf
    before = {k: conf.get(k) for k in ("spark.sql.autoBroadcastJoinThreshold", _ADAPTIVE_BROADCAST)}
    conf.set("spark.sql.autoBroadcastJoinThreshold", "1")
    conf.set(_ADAPTIVE_BROADCAST, str(64 << 20))
    yield
    for k, v in before.items():
        conf.set(k, v) if v is not None else conf.unset(k)


_ADAPTIVE_BROADCAST = "spark.sql.adaptive.autoBroadcastJoinThreshold"


@pytest.mark.usefixtures("late_broadcasts")
async def test_daily_runs_leave_the_flags_of_one_full_run(service, raw_db, spark, tmp_path):
    lake = tmp_path / "lake"
    events = await _world(service)
    third = len(events) // 3
    simulated = [events[:third], events[third : 2 * third], events[2 * third :]]
    stories, box = _stories()

    for n, day in enumerate(DAYS):
        await _store_on(service, raw_db, simulated[n] + stories[n], day)
        await _export(service, spark, lake, day)
        done = await _daily(service, spark, lake, day)
        if n == 0:
            assert done.flags_new > 0
            assert await _flag(raw_db, "D", "CROSS_PARTY", "xB-late") is None  # not in the lake yet
        if n == 1:
            # the box sold in Beijing, re-entered in Shanghai: R with its chain, found the day it came back
            assert await _flag(raw_db, "R", "REENTRY", "xA-in") == "OPEN"
            chain = await raw_db.fetchrow(
                """SELECT original_sellers, reentry_party, resale_parties
                   FROM return_chains c JOIN flags f USING (flag_id)
                   WHERE c.code = $1 AND c.active AND f.rule = 'R'""",
                box["A"],
            )
            assert (chain["original_sellers"], chain["reentry_party"], chain["resale_parties"]) == (
                ["IND-01"],
                "KY-S1",
                ["KY-S1"],
            )
            assert await _flag(raw_db, "D", "CROSS_PARTY", "xC-s2") == "OPEN"
    # day 3: the late sale of day 1 is found; the refund resolved day 2's flag
    assert await _flag(raw_db, "D", "CROSS_PARTY", "xB-late") == "OPEN"
    assert await _flag(raw_db, "D", "CROSS_PARTY", "xC-s2") == "RESOLVED"
    daily = await standing(raw_db)
    assert daily[0] and daily[1]
    assert {f[1] for f in daily[0].values()} >= {"D", "L", "R", "S", "B"}, "every rule is in the differential"

    # the in-process engine's full run on top changes nothing, field by field
    on_top = await run(service.engine, Mode.FULL)
    assert (on_top.flags_new, on_top.flags_resolved) == (0, 0)
    assert await standing(raw_db) == daily

    # one full run over the same three days, from no flags: in-process, then Spark over the whole lake
    await raw_db.execute("TRUNCATE flags, return_chains")
    await run(service.engine, Mode.FULL)
    assert await standing(raw_db) == daily
    await raw_db.execute("TRUNCATE flags, return_chains")
    info = await Reconciler(service.engine).start(Mode.FULL, engine=Engine.SPARK)
    full = await execute(service.engine, info.run_id, SparkSettings(buckets=BUCKETS, from_parquet=lake), spark)
    assert full.status is Status.DONE
    assert await standing(raw_db) == daily

    # a daily run judges the day's keys only, and a second run of a day changes nothing
    again = await _daily(service, spark, lake, DAYS[1])
    assert (again.flags_new, again.flags_resolved) == (0, 0)
    assert 0 < again.codes_done < full.codes_done
    assert 0 < again.sales_done < full.sales_done
    assert 0 < again.buyers_done < full.buyers_done

    # the key index: per day and province, one file of the day's distinct key hashes, sorted
    for name, index in KEY_INDEX.items():
        for day in DAYS:
            files = list((lake / index / f"day={day.isoformat()}" / "province=local").glob("*.parquet"))
            assert len(files) == 1, (index, day, files)
            hashes = pq.read_table(files[0]).column(KEY_HASH).to_pylist()
            rows = read_day(spark, lake, name, day)
            assert rows is not None
            assert hashes == sorted({r[0] for r in rows.select(KEY_HASH).collect()}), (index, day)

    # a day exported before the index existed is searched through its rows: without day 1's index,
    # day 3's run (whose late sale and refund need day 1's and day 2's history) still changes nothing
    for index in KEY_INDEX.values():
        shutil.rmtree(lake / index / f"day={DAYS[0].isoformat()}")
    unindexed = await _daily(service, spark, lake, DAYS[2])
    assert (unindexed.flags_new, unindexed.flags_resolved) == (0, 0)
    assert await standing(raw_db) == daily


async def test_a_days_export_replaces_the_day_and_a_crashed_one_leaves_it_whole(service, raw_db, spark, tmp_path):
    lake = tmp_path / "lake"
    await b.seed_registry(service.registry)
    events = dataset(23, 30)
    await _store_on(service, raw_db, events[: len(events) // 2], DAYS[0])
    await _export(service, spark, lake, DAYS[0])

    def rows() -> int:
        df = read(spark, lake, "code_events")
        assert df is not None
        return df.where(df.day == DAYS[0].isoformat()).count()

    before = await asyncio.to_thread(rows)
    assert before > 0
    await _store_on(service, raw_db, events[len(events) // 2 :], DAYS[0])  # more of day 1 arrives

    # the export is stopped while it reads the day's sales (after the day's code events are written)
    locker = await raw_db_connection(service)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE commissioned_codes IN ACCESS EXCLUSIVE MODE")
        export = asyncio.create_task(_export(service, spark, lake, DAYS[0]))
        waiting = """SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                     AND query LIKE '%commissioned_codes%'"""
        while not (pids := await raw_db.fetch(waiting)):
            assert not export.done(), "the export ended before it could be stopped"
            await asyncio.sleep(0.05)
        for p in pids:
            await raw_db.execute("SELECT pg_terminate_backend($1)", p["pid"])
        with pytest.raises(Exception, match="terminat"):
            await export
        await tx.rollback()
    finally:
        await locker.close()
    assert await asyncio.to_thread(rows) == before, "the crashed export left the day as it was"
    assert not (lake / "_staging").exists() or not any((lake / "_staging").iterdir())

    # a staged export a day old was left by a crash: the next export removes it; a live one's stays, and so
    # does what it cannot date (its age is in its name: an object store gives directories no time)
    now = int(time_module.time())
    staging = lake / "_staging"
    stale, live = staging / f"at{now - 25 * 3600}-2026-06-01-local-x1", staging / f"at{now - 60}-2026-07-01-11-x2"
    undated = staging / "2026-07-01-local-x3"
    for d in (stale, live, undated):
        (d / "code_events").mkdir(parents=True)
    await _export(service, spark, lake, DAYS[0])
    assert not stale.exists() and live.exists() and undated.exists()
    after = await asyncio.to_thread(rows)
    assert after > before
    await _export(service, spark, lake, DAYS[0])  # again: replaced, not appended
    assert await asyncio.to_thread(rows) == after
    assert (tmp_path / "lake" / "code_events").is_dir()
    assert partition_path(lake, "code_events", DAYS[0], "local").endswith("day=2026-07-01/province=local")


async def raw_db_connection(service) -> asyncpg.Connection:
    """A second plain connection to the service's database."""
    url = asyncpg_url(service.engine.url.render_as_string(hide_password=False))
    return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (
            ["run", "--incremental", "--engine", "spark", "--from-parquet", "s3a://lake/events", "--day", "2026-07-01"],
            True,
        ),
        (["run", "--incremental", "--engine", "spark", "--day", "2026-07-01"], False),  # the day is the lake's
        (["run", "--incremental", "--engine", "spark", "--from-parquet", "/lake"], False),  # which day?
        (["run", "--full", "--engine", "spark", "--from-parquet", "/lake", "--day", "2026-07-01"], False),
        (["run", "--incremental", "--from-parquet", "/lake", "--day", "2026-07-01"], False),  # in-process
        (["export-parquet", "/lake", "--day", "2026-07-01", "--province", "11"], True),
    ],
)
def test_the_daily_commands_parse_and_wrong_combinations_are_refused(argv, ok, capsys):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        assert args.day == date(2026, 7, 1) and args.province == "11"
        return
    if ok:
        _check_spark(parser, args)
        assert args.day == date(2026, 7, 1)
    else:
        with pytest.raises(SystemExit):
            _check_spark(parser, args)
        assert "--engine spark" in capsys.readouterr().err


async def test_the_daily_run_over_grpc_reads_the_servers_lake(service, raw_db, spark, tmp_path, monkeypatch):
    """RunReconciliation's daily run (engine SPARK, mode INCREMENTAL, lake_day) in the service's child
    process, over the lake TRACESVC_LAKE names; refused with the field when the request is wrong."""
    lake = tmp_path / "lake"
    await b.seed_registry(service.registry)
    await _store_on(service, raw_db, dataset(23, 30), DAYS[0])
    await _export(service, spark, lake, DAYS[0])
    stub = reconcile_pb2_grpc.ReconcileServiceStub(service.channel)

    def daily(day: str, **extra) -> reconcile_pb2.RunReconciliationRequest:
        fields = {"mode": reconcile_pb2.RUN_MODE_INCREMENTAL, "engine": reconcile_pb2.RUN_ENGINE_SPARK, **extra}
        return reconcile_pb2.RunReconciliationRequest(lake_day=day, **fields)

    monkeypatch.delenv("TRACESVC_LAKE", raising=False)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RunReconciliation(daily(DAYS[0].isoformat()))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION and "TRACESVC_LAKE" in str(err.value.details())
    monkeypatch.setenv("TRACESVC_LAKE", str(lake))
    for bad, field in [
        (daily("2026-7-1"), "lake_day"),
        (daily("２０２６-07-01"), "lake_day"),  # full-width digits are refused, never normalised
        (daily("2026-02-30"), "lake_day"),
        (daily(""), "lake_day"),  # an incremental Spark run is the daily run: which day?
        (daily("2026-07-01", engine=reconcile_pb2.RUN_ENGINE_IN_PROCESS), "lake_day"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RunReconciliation(bad)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, bad
        assert field in violations_of(rpc_status.from_call(err.value)), bad

    done = (await stub.RunReconciliation(daily(DAYS[0].isoformat(), buckets=2, wait=True))).run
    assert done.status == reconcile_pb2.RUN_STATUS_DONE, done.error
    assert (done.engine, done.mode, done.lake_day) == (
        reconcile_pb2.RUN_ENGINE_SPARK,
        reconcile_pb2.RUN_MODE_INCREMENTAL,
        DAYS[0].isoformat(),
    )
    assert done.flags_new > 0 and done.codes_done > 0
    by_grpc = await standing(raw_db)

    # a day no province has exported (too early, or a wrong lake) fails with the reason, never DONE with zeros
    missing = await Reconciler(service.engine).start(Mode.INCREMENTAL, engine=Engine.SPARK, day=DAYS[2])
    with pytest.raises(ValueError, match="holds no day 2026-07-03"):
        await execute(service.engine, missing.run_id, SparkSettings(buckets=2, from_parquet=str(lake)), spark)
    failed = await Reconciler(service.engine).get(missing.run_id)
    assert failed is not None and failed.status is Status.FAILED and "export-parquet --day 2026-07-03" in failed.error
    await raw_db.execute("TRUNCATE flags, return_chains")
    await run(service.engine, Mode.FULL)  # the same day judged in-process from the database
    assert await standing(raw_db) == by_grpc


async def test_a_retraction_resolves_what_its_event_proved_as_a_full_run_would(config, raw_db, spark, tmp_path):
    """An NHSA 3507 stored on day 2 retracts a sale stored on day 1: day 2's run reads that sale's rows from
    day 1's partitions (the retraction's target_day, not every day's) and resolves what the sale proved,
    leaving the flags of a full run over both days."""
    lake = tmp_path / "lake"
    day1, day2 = date(2026, 10, 1), date(2026, 10, 2)
    async with running(config) as (svc, http):
        mark = await raw_db.fetchval("SELECT coalesce(max(event_seq), 0) FROM events")
        for n in (1, 2):  # the same box sold twice by P1, never received
            row = sale_row(f"S7{n}", fixmedins_bchno=f"B-7{n}", sel_retn_time=f"2026-10-01 1{n}:00:00")
            sent = await http.post("/nhsa/v1/3505", json=envelope("3505", {"selinfo": row}, msgid=f"M7{n}"))
            assert sent.json()["output"]["counts"] == {"STORED": 1}, sent.text
        await raw_db.execute("UPDATE events SET received_at = $1 WHERE event_seq > $2", _noon(day1), mark)
        await _export(svc, spark, lake, day1)
        first = await _daily(svc, spark, lake, day1)
        assert first.flags_new >= 2

        delete = envelope("3507", {"data": {"fixmedins_bchno": "B-72", "inv_data_type": "4"}}, msgid="M79")
        assert (await http.post("/nhsa/v1/3507", json=delete)).json()["output"]["counts"] == {"STORED": 1}
        await raw_db.execute("UPDATE intake_evidence SET stored_at = $1 WHERE kind = 'RETRACTION'", _noon(day2))
        await _export(svc, spark, lake, day2)
        located = read_day(spark, lake, "retractions", day2)
        assert located is not None and [r[0] for r in located.select("target_day").collect()] == [day1.isoformat()]
        second = await _daily(svc, spark, lake, day2)
        assert second.flags_resolved >= 1 and second.codes_done == 1 and second.sales_done == 1
        daily = await standing(raw_db)

        await raw_db.execute("TRUNCATE flags, return_chains")
        await run(svc.engine, Mode.FULL)
        assert await standing(raw_db) == daily
