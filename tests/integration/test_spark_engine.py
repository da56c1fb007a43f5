"""The Spark engine gives exactly the in-process engine's flags and chains, and its runs are runs.

Real Spark (local[2], one session for all these tests) against the real embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import grpc
import pytest

from reconciler.jobs import Engine, Mode, Reconciler, RunInfo, Status
from reconciler.spark.job import SparkSettings, execute, export_parquet, job_group
from tests import builders as b
from tests.reconcile_helpers import run
from tests.stories import dataset
from tracesvc import client
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.sim.quality import measure
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import reconcile_pb2, reconcile_pb2_grpc

pytestmark = pytest.mark.slow

_FLAG_COLUMNS = (
    "flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region, "
    "related_parties, evidence, money_fen, detail, status, review_note, resolved_reason"
)
_CHAIN_COLUMNS = (
    "flag_id, code, active, originals::text, reentry::text, resales::text, buyer_tokens, "
    "original_sellers, reentry_party, reentry_supplier, resale_parties, money_fen"
)


async def snapshot(raw_db) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """Every flag and chain, field by field, keyed by flag id (the hash of the flag's identity)."""
    flags = {r["flag_id"]: tuple(r) for r in await raw_db.fetch(f"SELECT {_FLAG_COLUMNS} FROM flags")}
    chains = {r["flag_id"]: tuple(r) for r in await raw_db.fetch(f"SELECT {_CHAIN_COLUMNS} FROM return_chains")}
    return flags, chains


async def spark_run(service, db_url: str, spark, buckets: int = 4, chunk: int = 2000) -> RunInfo:
    info = await Reconciler(service.engine).start(Mode.FULL, engine=Engine.SPARK)
    return await execute(service.engine, info.run_id, SparkSettings(buckets=buckets, chunk=chunk), spark)


async def _clear_findings(raw_db) -> None:
    await raw_db.execute("TRUNCATE flags, return_chains")


async def _load_stories(service, seed: int, codes: int = 40) -> None:
    await b.seed_registry(service.registry)
    acks = await client.stream_events(service.channel, dataset(seed, codes))
    assert all(a.status in (1, 2) for a in acks)


async def _assert_same_as_in_process(service, raw_db, db_url, spark, bucket_counts=(1, 4, 64)) -> None:
    await run(service.engine, Mode.FULL)
    expected = await snapshot(raw_db)
    assert expected[0], "the data holds findings"
    for buckets in bucket_counts:
        await _clear_findings(raw_db)
        done = await spark_run(service, db_url, spark, buckets=buckets)
        assert done.status is Status.DONE and done.engine is Engine.SPARK
        assert done.flags_new == len(expected[0])
        assert await snapshot(raw_db) == expected, f"{buckets} buckets"


async def test_stories_give_the_in_process_flags_with_any_bucket_count(service, raw_db, db_url, spark):
    await _load_stories(service, 7)
    await _assert_same_as_in_process(service, raw_db, db_url, spark)


# Every kind the rules have, so "identical" is tested on each (the simulator's two seeds at this
# scale and fraud rate produce them all).
_ALL_KINDS = {
    ("D", "CROSS_PARTY"),
    ("D", "SAME_PARTY"),
    ("R", "REENTRY"),
    *(
        ("L", k)
        for k in (
            "UNLICENSED_SUPPLIER",
            "SUPPLIER_NEVER_HELD",
            "NOT_IN_CHAIN",
            "RECEIVED_AFTER_SALE",
            "RECEIVED_ELSEWHERE",
            "NEVER_RECEIVED",
        )
    ),
    *(("S", k) for k in ("NON_DRUG", "PRODUCT_MISMATCH", "UNKNOWN_PRODUCT", "UNKNOWN_CODE", "UNSCANNED_UNITS")),
}
_seen_kinds: set[tuple[str, str]] = set()


@pytest.mark.parametrize("seed", [3, 4])
async def test_simulated_world_gives_the_in_process_flags_and_chains(service, raw_db, db_url, spark, seed):
    q = await measure(service.target, None, seed=seed, scale=250, fraud_rate=0.5)  # loads and runs in-process
    assert not q.ack_errors
    # the two kinds the simulator's stories never make: an unregistered product, a box sold twice by one seller
    sim, t = Simulation(seed, 1), world.START + timedelta(days=3)
    box = world.DRUGS[0].canonical(9_000_000_001)
    extra = [
        sim.sale(
            "x-unknown", "IND-01", t, "", [("XC10AAA001", "drug", False, 1, 3850, [("8619999" + "0" * 12 + "1", None)])]
        ),
        sim.sale("x-twice-1", "IND-02", t, "", [("XC10AAA001", "drug", False, 1, 3850, [(box, None)])]),
        sim.sale(
            "x-twice-2", "IND-02", t + timedelta(hours=1), "", [("XC10AAA001", "drug", False, 1, 3850, [(box, None)])]
        ),
    ]
    assert all(a.status == 1 for a in await client.stream_events(service.channel, extra))
    await run(service.engine, Mode.FULL)
    expected = await snapshot(raw_db)
    _seen_kinds.update((f[1], f[2]) for f in expected[0].values())
    assert expected[1], "return chains"
    await _clear_findings(raw_db)
    await spark_run(service, db_url, spark, buckets=8)
    assert await snapshot(raw_db) == expected


def test_the_simulated_worlds_hold_every_rule_kind():
    """Runs after the two seeds above: together they hold every kind of D, L, R and S."""
    if not _seen_kinds:
        pytest.skip("run with the simulated-world tests")
    assert _seen_kinds >= _ALL_KINDS, sorted(_ALL_KINDS - _seen_kinds)


async def test_rerunning_keeps_reviews_and_resolves_what_no_longer_holds(service, raw_db, db_url, spark):
    await _load_stories(service, 11)
    never = b.code(b.STATIN, 99_001)  # sold at P1, received nowhere: L NEVER_RECEIVED
    await client.stream_events(service.channel, [ev.Event(sale=b.sale("lonely", [(never, None)], minutes=500))])
    first = await spark_run(service, db_url, spark)
    assert first.flags_new > 0
    before = await snapshot(raw_db)
    reviewed = next(fid for fid, f in before[0].items() if f[1] == "D")
    await raw_db.execute("UPDATE flags SET status = 'CONFIRMED', review_note = 'seen' WHERE flag_id = $1", reviewed)

    again = await spark_run(service, db_url, spark)
    assert (again.flags_new, again.flags_resolved) == (0, 0)
    after = await snapshot(raw_db)
    assert after[1] == before[1]
    assert after[0][reviewed][-3:-1] == ("CONFIRMED", "seen")
    assert {k: v for k, v in after[0].items() if k != reviewed} == {k: v for k, v in before[0].items() if k != reviewed}

    # the receipt turns up (back-dated, as offline uploads are): the finding no longer holds
    paper = ev.Event(receipt=b.receipt("late-paper", [never], supplier="MFR1", minutes=400))
    await client.stream_events(service.channel, [paper])
    third = await spark_run(service, db_url, spark)
    assert third.flags_resolved == 1
    row = await raw_db.fetchrow("SELECT status, resolved_reason FROM flags WHERE code = $1 AND rule = 'L'", never)
    assert row["status"] == "RESOLVED"
    assert row["resolved_reason"] == f"run {third.run_id}: the finding no longer holds on the events now known"
    # and the in-process engine, run on top, agrees with all of it
    on_top = await run(service.engine, Mode.FULL)
    assert (on_top.flags_new, on_top.flags_resolved) == (0, 0)


async def test_a_spark_run_after_incremental_runs_agrees(service, raw_db, db_url, spark):
    await b.seed_registry(service.registry)
    events = dataset(5)
    for part in (events[: len(events) // 2], events[len(events) // 2 :]):
        await client.stream_events(service.channel, part)
        await run(service.engine, Mode.INCREMENTAL)
    expected = await snapshot(raw_db)
    done = await spark_run(service, db_url, spark)
    assert (done.flags_new, done.flags_resolved) == (0, 0)
    assert await snapshot(raw_db) == expected


async def test_a_run_killed_midway_is_failed_and_a_new_run_completes(service, raw_db, db_url, spark):
    await _load_stories(service, 13, codes=300)
    await run(service.engine, Mode.FULL)
    expected = await snapshot(raw_db)
    await _clear_findings(raw_db)

    # one code per transaction, so the run is still busy when it is killed
    task = asyncio.create_task(spark_run(service, db_url, spark, buckets=2, chunk=1))
    busy = "SELECT max(run_id) FROM reconcile_runs WHERE engine = 'SPARK' AND codes_done > 0"
    while not (run_id := await raw_db.fetchval(busy)):
        assert not task.done(), "the run ended before it could be killed"
        await asyncio.sleep(0.02)
    threading.Thread(target=spark.sparkContext.cancelJobGroup, args=(job_group(run_id),)).start()
    with pytest.raises(Exception, match="cancel"):
        await task
    killed = await Reconciler(service.engine).get(run_id)
    assert killed.status is Status.FAILED and "cancel" in killed.error
    assert 0 < killed.codes_done < killed.codes_total

    done = await spark_run(service, db_url, spark)
    assert done.status is Status.DONE
    assert await snapshot(raw_db) == expected


async def test_parquet_export_gives_the_same_flags(service, raw_db, spark, tmp_path):
    await _load_stories(service, 17)
    await run(service.engine, Mode.FULL)
    expected = await snapshot(raw_db)
    await _clear_findings(raw_db)
    url = service.engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(export_parquet, spark, url, tmp_path / "lake", 3)
    info = await Reconciler(service.engine).start(Mode.FULL, engine=Engine.SPARK)
    done = await execute(service.engine, info.run_id, SparkSettings(buckets=5, from_parquet=tmp_path / "lake"), spark)
    assert done.status is Status.DONE and done.codes_total == done.codes_done > 0
    assert await snapshot(raw_db) == expected


async def test_grpc_runs_spark_in_its_own_process(service, raw_db):
    """RunReconciliation with engine SPARK: the `reconciler` command in a child process, recorded as a run."""
    await _load_stories(service, 19)
    await run(service.engine, Mode.FULL)
    expected = await snapshot(raw_db)
    await _clear_findings(raw_db)
    stub = reconcile_pb2_grpc.ReconcileServiceStub(service.channel)
    done = (
        await stub.RunReconciliation(
            reconcile_pb2.RunReconciliationRequest(
                mode=reconcile_pb2.RUN_MODE_FULL, engine=reconcile_pb2.RUN_ENGINE_SPARK, buckets=2, wait=True
            )
        )
    ).run
    assert done.status == reconcile_pb2.RUN_STATUS_DONE, done.error
    assert done.engine == reconcile_pb2.RUN_ENGINE_SPARK and done.flags_new == len(expected[0])
    assert await snapshot(raw_db) == expected
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RunReconciliation(
            reconcile_pb2.RunReconciliationRequest(
                mode=reconcile_pb2.RUN_MODE_INCREMENTAL, engine=reconcile_pb2.RUN_ENGINE_SPARK
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
