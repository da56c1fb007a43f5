"""Metrics without a server: several processes summed (multiprocess mode), and nothing loaded while off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.metrics_helpers import parse, value
from tracesvc.api.rpc_metrics import code_label
from tracesvc.observability import metrics

WORKER = textwrap.dedent("""
    import sys
    from types import SimpleNamespace as NS
    from tracesvc.observability import metrics
    n = int(sys.argv[1])
    metrics.enable()
    metrics.verdicts([NS(verdict="SELLABLE")] * n + [NS(verdict="ALREADY_SOLD")])
    rpc = metrics.rpc("unary", "/tracesvc.v1.VerifyService/VerifyCodes")
    for _ in range(n):
        rpc.started.inc()
        rpc.handled("OK", 0.003)
    metrics.run_finished("INCREMENTAL", "DONE", 2.0, NS(codes_done=10 * n, sales_done=n, flags_new=1, flags_resolved=0))
    metrics._m.pool_in_use.set(n)
""")


def _worker(directory: str, n: int) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True, timeout=60)


def test_two_worker_processes_are_summed_by_the_multiprocess_collector(tmp_path):
    _worker(str(tmp_path), 2)
    _worker(str(tmp_path), 3)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "tracesvc_verify_verdicts_total", verdict="SELLABLE") == 5
    assert value(samples, "tracesvc_verify_verdicts_total", verdict="ALREADY_SOLD") == 2
    verify = {"grpc_method": "VerifyCodes", "grpc_code": "OK"}
    assert value(samples, "grpc_server_handled_total", **verify) == 5
    assert value(samples, "grpc_server_handling_seconds_bucket", grpc_method="VerifyCodes", le="0.005") == 5
    assert value(samples, "grpc_server_handling_seconds_bucket", grpc_method="VerifyCodes", le="0.001") == 0
    assert value(samples, "tracesvc_reconcile_runs_total", mode="INCREMENTAL", status="DONE") == 2
    assert value(samples, "tracesvc_reconcile_codes_total") == 50
    # livesum: the pool gauges of live processes add up (both pids still count: not marked dead)
    assert value(samples, "tracesvc_db_pool_in_use") == 5


def test_metrics_and_tracing_off_load_neither_library():
    code = (
        "import sys, tracesvc.app.server, tracesvc.observability.metrics as m, tracesvc.observability.tracing as t; "
        "from types import SimpleNamespace as NS; "
        "m.verdicts([NS(verdict='SELLABLE')]); m.run_finished('FULL', 'DONE', 1.0); "
        "assert m.rpc('unary', '/a.B/C') is None and t.current_trace_id() is None; "
        "print(sorted(k for k in sys.modules if k.startswith(('prometheus_client', 'opentelemetry'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_status_codes_are_named_as_in_the_other_grpc_languages():
    assert code_label(grpc.StatusCode.OK) == "OK"
    assert code_label(grpc.StatusCode.INVALID_ARGUMENT) == "InvalidArgument"
    assert code_label(grpc.StatusCode.DEADLINE_EXCEEDED) == "DeadlineExceeded"
    assert code_label(grpc.StatusCode.UNAUTHENTICATED) == "Unauthenticated"
