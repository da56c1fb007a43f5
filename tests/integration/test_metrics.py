"""/metrics scraped from a real server after real traffic: the demo's day, verifications, a run."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from pathlib import Path

import grpc
import pytest

from reconciler.jobs import Mode
from tests import builders as b
from tests.conftest import start_service
from tests.integration.test_reconcile_runs import send
from tests.metrics_helpers import delta, names, scrape, value
from tracesvc.app import demo
from tracesvc.observability import exposition, logs, metrics
from tracesvc.store.db import create_engine
from tracesvc.v1 import verify_pb2 as vf
from tracesvc.v1 import verify_pb2_grpc

VERIFY = {"grpc_service": "tracesvc.v1.VerifyService", "grpc_method": "VerifyCodes", "grpc_type": "unary"}
STREAM = {"grpc_service": "tracesvc.v1.IngestService", "grpc_method": "StreamEvents", "grpc_type": "bidi_stream"}
BOXES = 80


@pytest.fixture
def metrics_config(config):
    return dataclasses.replace(config, metrics_listen="127.0.0.1:0")


async def _verify(stub, party: str, *codes: str) -> list[vf.CodeVerdict]:
    request = vf.VerifyCodesRequest(party_id=party, codes=[vf.CodeToVerify(code=c) for c in codes])
    return list((await stub.VerifyCodes(request)).verdicts)


@pytest.mark.slow
async def test_metrics_count_every_call_the_acks_the_verdicts_and_the_run(metrics_config):
    async with start_service(metrics_config) as svc:
        port = svc.running.metrics_port
        assert port
        before = await scrape(port)
        summary = await demo.drive(svc.target, None, boxes=BOXES)
        stub = verify_pb2_grpc.VerifyServiceStub(svc.channel)
        verdicts: Counter[str] = Counter()
        for code in ("86100010000000000001", "not a code", "86100019900000000001"):
            for v in await _verify(stub, "RX-S1", code):
                verdicts[vf.Verdict.Name(v.verdict).removeprefix("VERDICT_")] += 1
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await _verify(stub, "NO-SUCH-PARTY", "x")
            assert denied.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        after = await scrape(port)

    # Every VerifyCodes call, with its code; its handling time observed once per call.
    assert delta(after, before, "grpc_server_started_total", **VERIFY) == 5
    assert delta(after, before, "grpc_server_handled_total", grpc_code="OK", **VERIFY) == 3
    assert delta(after, before, "grpc_server_handled_total", grpc_code="InvalidArgument", **VERIFY) == 2
    assert delta(after, before, "grpc_server_handling_seconds_count", **VERIFY) == 5
    assert delta(after, before, "grpc_server_handling_seconds_bucket", le="+Inf", **VERIFY) == 5
    assert delta(after, before, "grpc_server_msg_received_total", **VERIFY) == 5
    assert delta(after, before, "grpc_server_msg_sent_total", **VERIFY) == 3  # none on an error
    # The verdicts counted are the verdicts answered.
    for verdict, n in verdicts.items():
        assert delta(after, before, "tracesvc_verify_verdicts_total", verdict=verdict, source="verify") == n

    # The demo's three streams: one message in and one ack out per event.
    acks = (
        summary["first_pass"]
        + summary["retry"]
        + Counter(s.removeprefix("ACK_STATUS_") for _, s, _ in summary["troubles"])
    )
    events = sum(acks.values())
    assert delta(after, before, "grpc_server_handled_total", grpc_code="OK", **STREAM) == 3
    assert delta(after, before, "grpc_server_msg_received_total", **STREAM) == events
    assert delta(after, before, "grpc_server_msg_sent_total", **STREAM) == events
    # Ingest counters equal what the acks said, status by status.
    for status, n in acks.items():
        assert delta(after, before, "tracesvc_ingest_events_total", status=status) == n, status
    assert delta(after, before, "tracesvc_ingest_events_total") == events
    for kind in summary["events"]:  # every kind the day sent was stored under its own label
        assert delta(after, before, "tracesvc_ingest_events_total", kind=kind.upper(), status="STORED") > 0, kind
    assert delta(after, before, "tracesvc_ingest_codes_total") > 0
    assert delta(after, before, "tracesvc_ingest_batch_events_sum") == events
    assert delta(after, before, "tracesvc_ingest_commit_seconds_count") >= 3

    # The run, with its counts; the standing flags are those ListFlags returned.
    run = summary["run"]
    mode = {"mode": "FULL", "engine": metrics.ENGINE_IN_PROCESS}
    assert delta(after, before, "tracesvc_reconcile_runs_total", status="DONE", **mode) == 1
    assert delta(after, before, "tracesvc_reconcile_run_seconds_count", **mode) == 1
    assert delta(after, before, "tracesvc_reconcile_codes_total", **mode) == run.codes_done > 0
    assert delta(after, before, "tracesvc_reconcile_sales_total", **mode) == run.sales_done
    assert delta(after, before, "tracesvc_reconcile_flags_total", change="new", **mode) == run.flags_new > 0
    assert value(after, "tracesvc_reconcile_last_run_codes", mode="FULL") == run.codes_done
    assert value(after, "tracesvc_reconcile_last_run_failed", mode="FULL") == 0
    assert value(after, "tracesvc_reconcile_last_success_timestamp_seconds", mode="FULL") > 0
    assert value(after, "tracesvc_flags") == sum(summary["flags"].values())
    assert value(after, "tracesvc_flags", rule="D", status="OPEN") == sum(
        n for name, n in summary["flags"].items() if name.startswith("D ")
    )
    assert value(after, "tracesvc_standing_query_ok") == 1
    # Nothing was stored after the run started: no lag.
    assert value(after, "tracesvc_reconcile_lag_seconds") == 0
    assert value(after, "tracesvc_db_pool_capacity") == 2 * metrics_config.db_pool_size
    # Every series the dashboard and the alerts query is one the service exports.
    used = deploy_metric_names()
    assert len(used) > 15 and used <= names(after), used - names(after)


def deploy_metric_names() -> set[str]:
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    text = (deploy / "grafana" / "tracesvc-dashboard.json").read_text()
    text += (deploy / "prometheus" / "alerts.yml").read_text()
    return set(re.findall(r"\b(?:grpc_server|tracesvc)_[a-z_]+\b", text)) - {"tracesvc_local"}


async def test_reconcile_lag_is_the_age_of_the_oldest_event_no_run_has_reconciled(metrics_config):
    async with start_service(metrics_config) as svc:
        port = svc.running.metrics_port
        assert value(await scrape(port), "tracesvc_reconcile_lag_seconds") == 0  # nothing stored
        await b.seed_registry(svc.registry)
        c = b.code(b.STATIN, 1)
        await send(svc, ("receipt", b.receipt("r1", [c], party="P1", supplier="WHS1")))
        await asyncio.sleep(1.1)
        await send(svc, ("receipt", b.receipt("r2", [b.code(b.STATIN, 2)], party="P1", supplier="WHS1")))
        assert 1.1 <= value(await scrape(port), "tracesvc_reconcile_lag_seconds") < 60  # r1's age, not r2's
        failed = value(await scrape(port), "tracesvc_reconcile_last_run_failed", mode="INCREMENTAL")
        await svc.running.reconciler.run(Mode.INCREMENTAL)
        samples = await scrape(port)
        assert value(samples, "tracesvc_reconcile_lag_seconds") == 0
        assert failed == 0 and value(samples, "tracesvc_reconcile_last_run_failed", mode="INCREMENTAL") == 0
        assert value(samples, "tracesvc_reconcile_last_run_codes", mode="INCREMENTAL") == 2


async def test_pool_gauges_show_connections_in_use_and_callers_waiting(db_url):
    metrics.enable()
    engine = create_engine(db_url, pool_size=1)  # one connection and one overflow
    sampler = metrics.instrument_pool(engine, every=0.02)
    endpoint = exposition.serve("127.0.0.1:0")
    try:
        async with engine.connect() as a, engine.connect() as b:
            assert a is not b
            third = asyncio.create_task(_hold(engine))
            await asyncio.sleep(0.2)
            samples = await scrape(endpoint.port)
            assert value(samples, "tracesvc_db_pool_in_use") >= 2
            assert value(samples, "tracesvc_db_pool_waiting") >= 1
            assert metrics.pool_waiters(engine.sync_engine.pool) == 1
        await third
        await asyncio.sleep(0.1)
        assert value(await scrape(endpoint.port), "tracesvc_db_pool_waiting") == 0
    finally:
        endpoint.close()
        assert sampler is not None
        sampler.cancel()
        await engine.dispose()


async def _hold(engine) -> None:
    async with engine.connect():
        pass


async def test_http_requests_are_counted_by_route_and_status_and_logged(metrics_config):
    import httpx
    import structlog

    config = dataclasses.replace(metrics_config, auth=True, http_listen="127.0.0.1:0")
    async with start_service(config) as svc:
        port = svc.running.metrics_port
        before = await scrape(port)
        logs.configure("info", "json")
        try:
            with structlog.testing.capture_logs() as logged:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.running.http_port}") as http:
                    assert (await http.get("/healthz")).status_code == 200
                    denied = await http.post("/nhsa/v1/3505?psn_no=secret", json={}, headers={"X-Request-Id": "req-7"})
                    assert denied.status_code == 401 and denied.headers["x-request-id"] == "req-7"
                    assert (await http.get("/epcis/events/urn:uuid:1")).status_code == 401
                    assert (await http.get("/no/such/thing")).status_code == 404
                    for n in range(3):  # made-up methods share one label: no series per name
                        await http.request(f"BREW{n}", "/no/such/thing")
        finally:
            logs.configure("warning", "json")
        after = await scrape(port)

    def answered(route: str, status: str, method: str) -> float:
        return delta(after, before, "http_server_requests_total", method=method, route=route, status=status)

    assert answered("/healthz", "200", "GET") == 1
    assert answered("/nhsa/v1/{infno}", "401", "POST") == 1
    assert answered("/epcis/events/{event_id}", "401", "GET") == 1  # the route, never the id
    assert answered("other", "404", "GET") == 1
    assert sum(answered("other", str(code), "OTHER") for code in (404, 405)) == 3
    assert not [k for k in after if "BREW" in str(k)]
    assert delta(after, before, "http_server_request_duration_seconds_count", method="GET", route="/healthz") == 1
    lines = [e for e in logged if e["event"] == "http" and e["method"] != "OTHER"]
    assert [(e["route"], e["status"], e["log_level"]) for e in lines] == [
        ("/healthz", 200, "info"),
        ("/nhsa/v1/{infno}", 401, "warning"),
        ("/epcis/events/{event_id}", 401, "warning"),
        ("other", 404, "warning"),
    ]
    assert lines[1]["request_id"] == "req-7" and "secret" not in str(lines)  # no query strings in the log
