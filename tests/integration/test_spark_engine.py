"""The Spark engine gives exactly the in-process engine's flags and chains, and its runs are runs.

Real Spark (local[2], one session for all these tests) against the real embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from reconciler.jobs import Engine, Mode, Reconciler, RunInfo, Status
from reconciler.spark.job import SparkSettings, execute, job_group
from tests import builders as b
from tests.reconcile_helpers import run
from tests.stories import dataset
from tracesvc import client
from tracesvc.sim.quality import measure

pytestmark = pytest.mark.slow

_FLAG_COLUMNS = ("flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region, "
                 "related_parties, evidence, money_fen, detail, status, review_note, resolved_reason")
_CHAIN_COLUMNS = ("flag_id, code, active, originals::text, reentry::text, resales::text, buyer_tokens, "
                  "original_sellers, reentry_party, reentry_supplier, resale_parties, money_fen")


async def snapshot(raw_db) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """Every flag and chain, field by field, keyed by flag id (the hash of the flag's identity)."""
    flags = {r["flag_id"]: tuple(r) for r in await raw_db.fetch(f"SELECT {_FLAG_COLUMNS} FROM flags")}
    chains = {r["flag_id"]: tuple(r) for r in await raw_db.fetch(f"SELECT {_CHAIN_COLUMNS} FROM return_chains")}
    return flags, chains


async def spark_run(service, db_url: str, spark, buckets: int = 4, chunk: int = 2000) -> RunInfo:
    info = await Reconciler(service.engine).start(Mode.FULL, engine=Engine.SPARK)
    return await execute(service.engine, db_url, info.run_id, SparkSettings(buckets=buckets, chunk=chunk), spark)


async def _clear_findings(raw_db) -> None:
    await raw_db.execute("TRUNCATE flags, return_chains")


async def _load_stories(service, seed: int) -> None:
    await b.seed_registry(service.registry)
    acks = await client.stream_events(service.channel, dataset(seed))
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


@pytest.mark.parametrize("seed", [3, 4])
async def test_simulated_world_gives_the_in_process_flags_and_chains(service, raw_db, db_url, spark, seed):
    q = await measure(service.target, None, seed=seed, scale=250, fraud_rate=0.5)  # loads and runs in-process
    assert not q.ack_errors
    expected = await snapshot(raw_db)
    kinds = {(f[1], f[2]) for f in expected[0].values()}
    assert {r for r, _ in kinds} == {"D", "L", "R", "S"}
    assert expected[1], "return chains"
    for buckets in (1, 4, 64):
        await _clear_findings(raw_db)
        await spark_run(service, db_url, spark, buckets=buckets)
        assert await snapshot(raw_db) == expected, f"{buckets} buckets"
