"""Traces from a real server: a span per RPC, the database calls inside it as its children, and
the trace id as the request id of the call's log lines."""

from __future__ import annotations

import dataclasses
import io
import json

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests import builders as b
from tests.conftest import start_service
from tracesvc.observability import logs, tracing
from tracesvc.v1 import verify_pb2 as vf
from tracesvc.v1 import verify_pb2_grpc

METHOD = "/tracesvc.v1.VerifyService/VerifyCodes"


async def test_each_rpc_is_a_span_with_its_database_calls_and_its_trace_id_is_the_request_id(config):
    spans = InMemorySpanExporter()
    tracing.export_to(spans)
    lines = io.StringIO()
    async with start_service(dataclasses.replace(config, tracing=True)) as svc:
        await b.seed_registry(svc.registry)
        logs.configure("info", "json", lines)
        try:
            stub = verify_pb2_grpc.VerifyServiceStub(svc.channel)
            request = vf.VerifyCodesRequest(party_id="P1", codes=[vf.CodeToVerify(code=b.code(b.STATIN, 1))])
            await stub.VerifyCodes(request, metadata=[("x-request-id", "client-chosen-id")])
        finally:
            logs.configure("warning", "json")
    done = spans.get_finished_spans()
    spans.shutdown()  # keep no spans from later tests

    rpc = [s for s in done if s.name == METHOD]
    assert len(rpc) == 1 and rpc[0].kind is SpanKind.SERVER
    server = rpc[0].context
    children = [s for s in done if s.parent is not None and s.parent.span_id == server.span_id]
    db = [s for s in children if s.instrumentation_scope.name.endswith("asyncpg")]
    assert db, [(s.name, s.instrumentation_scope.name) for s in done]
    assert all(s.context.trace_id == server.trace_id for s in db)
    assert any(
        "code_state" in (s.attributes.get("db.statement") or s.attributes.get("db.query.text") or "") for s in db
    )
    logged = [json.loads(line) for line in lines.getvalue().splitlines() if line.startswith("{")]
    call = [r for r in logged if r.get("event") == "rpc" and r.get("method") == METHOD]
    assert len(call) == 1
    assert call[0]["request_id"] == format(server.trace_id, "032x")
    # Once the server stopped, database calls make no spans any more.
    assert tracing.current_trace_id() is None
