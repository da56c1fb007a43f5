"""`tracesvc serve` with two worker processes: one /metrics endpoint serving the sum of both."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error

import grpc
import pytest

from tests.metrics_helpers import scrape, value
from tracesvc import client
from tracesvc.v1 import verify_pb2 as vf
from tracesvc.v1 import verify_pb2_grpc

POOL = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _until(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if result := await check():
                return result
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.3)


async def _refused(stub: verify_pb2_grpc.VerifyServiceStub) -> grpc.StatusCode:
    """The status of a VerifyCodes call the service must refuse; a process whose gRPC port is not
    bound yet (UNAVAILABLE) is asked again, so every counted call reached a server."""
    request = vf.VerifyCodesRequest(party_id="nobody", codes=[vf.CodeToVerify(code="x")])
    deadline = time.monotonic() + 30
    while True:
        try:
            await stub.VerifyCodes(request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                return exc.code()
        else:
            raise AssertionError("VerifyCodes accepted a request it must refuse")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_two_workers_are_served_as_one_sum(db_url, tmp_path):
    grpc_port, metrics_port = _free_port(), _free_port()
    key = tmp_path / "hmac.key"
    key.write_text("5e" * 32)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "TRACESVC_DATA_DIR": str(tmp_path),
        "TRACESVC_HMAC_KEY_FILE": str(key),
        "TRACESVC_LISTEN": f"127.0.0.1:{grpc_port}",
        "TRACESVC_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "TRACESVC_WORKERS": "2",
        "TRACESVC_AUTH": "off",
        "TRACESVC_DB_POOL_SIZE": str(POOL),
        "TRACESVC_LOG_LEVEL": "warning",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "tracesvc.app.cli", "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        # Both processes are up once the pool capacities of both are in the sum.
        async def both_up():
            return value(await scrape(metrics_port), "tracesvc_db_pool_capacity") == 2 * 2 * POOL

        await _until(both_up)
        calls = 0
        for _ in range(10):  # a connection each: the kernel spreads them over the two processes
            async with client.channel(f"127.0.0.1:{grpc_port}") as ch:
                stub = verify_pb2_grpc.VerifyServiceStub(ch)
                for _ in range(3):
                    assert await _refused(stub) is grpc.StatusCode.INVALID_ARGUMENT
                    calls += 1
        verify = {"grpc_method": "VerifyCodes", "grpc_code": "InvalidArgument"}

        # The interceptor counts a call after its status is sent: the client may see the error first.
        async def all_counted():
            samples = await scrape(metrics_port)
            handled = value(samples, "grpc_server_handled_total", **verify)
            timed = value(samples, "grpc_server_handling_seconds_count", grpc_method="VerifyCodes")
            return samples if handled >= calls and timed >= calls else None

        samples = await _until(all_counted, 30)
        assert value(samples, "grpc_server_handled_total", **verify) == calls  # none lost, none twice
        assert value(samples, "grpc_server_handling_seconds_count", grpc_method="VerifyCodes") == calls
        assert value(samples, "tracesvc_standing_query_ok") == 1  # served once, by the parent
        files = os.listdir(tmp_path / "prometheus")
        assert len({name.rsplit("_", 1)[1] for name in files if name.startswith("counter_")}) == 2  # two pids wrote
    finally:
        proc.terminate()
        proc.wait(60)
    assert proc.returncode == 0
