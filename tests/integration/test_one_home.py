"""The drifts that two copies of one piece of code had let in, each pinned: both engines now share
one run lifecycle and one review write (issue 20)."""

from __future__ import annotations

from prometheus_client import generate_latest

from reconciler.jobs import Mode
from reconciler.lifecycle import RunLifecycle
from reconciler.store.runs import Engine, Status, create_run, get_run
from tests.integration.test_enforcement import enf
from tests.integration.test_reconcile_api import ring
from tests.metrics_helpers import parse, value
from tests.reconcile_helpers import run
from tracesvc.observability import metrics
from tracesvc.store.db import pg
from tracesvc.v1 import enforcement_pb2 as en


async def test_a_failure_reported_after_a_run_is_done_leaves_it_done(service):
    """A late failure report (a Spark child's exit, a cancelled waiter) never overwrites a DONE run."""
    async with pg(service.engine) as conn:
        recorded = await create_run(conn, Mode.FULL, None, None, rule_params={}, engine=Engine.IN_PROCESS)
    life = RunLifecycle(service.engine, recorded.run_id)
    await life.begin()
    done = await life.done()
    assert done.status is Status.DONE
    await RunLifecycle(service.engine, recorded.run_id).fail(RuntimeError("spark job process exited with 1"))
    async with pg(service.engine) as conn:
        after = await get_run(conn, recorded.run_id)
    assert after is not None and after.status is Status.DONE and not after.error


async def test_a_spark_run_counts_in_the_run_metrics_under_its_engine(service):
    """The Spark engine never called run_finished; both engines now end through RunLifecycle."""
    metrics.enable()
    before = value(
        parse(generate_latest(metrics.registry()).decode()),
        "tracesvc_reconcile_runs_total",
        mode="FULL",
        engine="spark",
        status="DONE",
    )
    async with pg(service.engine) as conn:
        recorded = await create_run(conn, Mode.FULL, None, None, rule_params={}, engine=Engine.SPARK)
    life = RunLifecycle(service.engine, recorded.run_id)
    await life.begin(from_scratch=True)
    await life.done()
    after = value(
        parse(generate_latest(metrics.registry()).decode()),
        "tracesvc_reconcile_runs_total",
        mode="FULL",
        engine="spark",
        status="DONE",
    )
    assert after == before + 1


async def test_a_single_review_writes_its_audit_line_as_a_bulk_review_does(service, raw_db):
    await ring(service)
    await run(service.engine)
    stub = enf(service)
    flags = (await stub.ListFlags(en.ListFlagsRequest(page_size=10))).flags
    one, many = flags[0].flag_id, [f.flag_id for f in flags[1:3]]
    await stub.ReviewFlag(en.ReviewFlagRequest(flag_id=one, decision=en.REVIEW_DECISION_CONFIRM, note="seen"))
    await stub.ReviewFlags(en.ReviewFlagsRequest(flag_ids=many, decision=en.REVIEW_DECISION_CONFIRM, note="seen"))
    audited = {
        r["target"]: r["method"]
        for r in await raw_db.fetch("SELECT method, target FROM audit_log WHERE method LIKE 'ReviewFlag%'")
    }
    assert audited == {f"flag:{one}": "ReviewFlag", **{f"flag:{f}": "ReviewFlags" for f in many}}
