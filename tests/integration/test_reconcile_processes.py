"""Worker processes (Reconciler(processes=K)) give exactly the flags and chains of one process, and a
worker that dies fails the run, which then resumes to the same flags."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import timedelta

import pytest

from reconciler.jobs import Mode, Reconciler, RunInfo, Status
from reconciler.workers import WorkerDied
from tracesvc import client
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.sim.quality import measure

pytestmark = pytest.mark.slow

_BATCHES = {"code_batch": 40, "sale_batch": 30, "buyer_batch": 20}  # many ranges, so shards split unevenly


def _reconciler(service, processes: int) -> Reconciler:
    return Reconciler(service.engine, skew=timedelta(minutes=10), processes=processes, **_BATCHES)


async def snapshot(raw_db) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """Every flag (with its status and content hash) and every return chain, keyed by flag id."""
    flags = {
        r["flag_id"]: tuple(r)
        for r in await raw_db.fetch(
            """SELECT flag_id, rule, kind, status, encode(content_hash, 'hex') AS h, code, decisive_event_id,
                      subject_party, related_parties, evidence, money_fen, detail, resolved_reason, buyer_token
               FROM flags"""
        )
    }
    chains = {
        r["flag_id"]: tuple(r)
        for r in await raw_db.fetch(
            """SELECT flag_id, active, originals::text, reentry::text, resales::text, buyer_tokens,
                      original_sellers, reentry_party, resale_parties, money_fen FROM return_chains"""
        )
    }
    return flags, chains


async def _world(service, raw_db) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """A simulated history, judged by one process (measure runs it in-process); its flags and chains."""
    await raw_db.execute("TRUNCATE events, event_codes, flags, return_chains, reconcile_runs")
    q = await measure(service.target, None, seed=3, scale=120, fraud_rate=0.5)
    assert not q.ack_errors
    await raw_db.execute("TRUNCATE flags, return_chains, reconcile_runs")
    one = await _reconciler(service, 1).run(Mode.FULL)
    expected = await snapshot(raw_db)
    assert one.flags_new == len(expected[0]) and expected[1], "the history holds findings and chains"
    assert {f[1] for f in expected[0].values()} >= {"D", "L", "R", "S"}
    return expected


async def test_k_processes_give_the_flags_and_chains_of_one(service, raw_db):
    expected = await _world(service, raw_db)
    for k in (2, 3):
        await raw_db.execute("TRUNCATE flags, return_chains")
        done = await _reconciler(service, k).run(Mode.FULL)
        assert done.status is Status.DONE
        assert (done.flags_new, done.flags_resolved) == (len(expected[0]), 0), k
        assert await snapshot(raw_db) == expected, f"{k} processes"
        # a re-run changes nothing
        again = await _reconciler(service, k).run(Mode.FULL)
        assert (again.flags_new, again.flags_resolved) == (0, 0)
        assert await snapshot(raw_db) == expected

    # an incremental run over new events: K=2 stores what one process then finds nothing to change in
    sim, t = Simulation(3, 1), world.START + timedelta(days=20)
    late = [
        sim.sale(f"late-{n}", "IND-02", t, "", [("XC10AAA001", "drug", False, 1, 3850, [(code, None)])])
        for n, code in enumerate(sorted({f[5] for f in expected[0].values() if f[5]})[:30])
    ]
    assert all(a.status == 1 for a in await client.stream_events(service.channel, late))
    inc = await _reconciler(service, 2).run(Mode.INCREMENTAL)
    assert inc.codes_done >= 20 and inc.flags_new > 0
    after = await snapshot(raw_db)
    check = await _reconciler(service, 1).run(Mode.FULL)
    assert (check.flags_new, check.flags_resolved) == (0, 0)
    assert await snapshot(raw_db) == after


async def test_a_dead_worker_fails_the_run_which_resumes_to_the_same_flags(service, raw_db):
    expected = await _world(service, raw_db)
    await raw_db.execute("TRUNCATE flags, return_chains")
    reconciler = _reconciler(service, 2)
    info = await reconciler.start(Mode.FULL)
    killed: list[int] = []

    def kill_a_worker(progress: RunInfo) -> None:
        if not killed and progress.codes_done:
            # the reconciler's own workers by name: the service's bulk lane has spawned processes too
            worker = next(p for p in multiprocessing.active_children() if p.name.startswith("reconciler-worker#"))
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    with pytest.raises(WorkerDied):
        await reconciler.execute(info.run_id, kill_a_worker)
    failed = await reconciler.get(info.run_id)
    assert failed is not None and failed.status is Status.FAILED
    assert "worker process died" in (failed.error or "")
    assert 0 < failed.codes_done < failed.codes_total  # it stopped partway

    done = await _reconciler(service, 2).execute(info.run_id)
    assert done.status is Status.DONE
    assert await snapshot(raw_db) == expected
