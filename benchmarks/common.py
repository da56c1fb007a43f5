"""Shared benchmark plumbing: an embedded PostgreSQL, fresh migrated databases, the service
in its own process (so the load generator does not share its GIL), tables and JSON output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tracesvc.store.db import EmbeddedPostgres, asyncpg_url, create_engine, migrate

OUT = Path(__file__).resolve().parent / "out"


def plain(url: str) -> str:
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


class Bench:
    """One embedded PostgreSQL for a benchmark run; a fresh database per measurement."""

    def __init__(self) -> None:
        self.pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="tracesvc-bench-")) / "pg")
        self.admin = ""
        self.n = 0

    def __enter__(self) -> Bench:
        self.pg.start()
        self.admin = self.pg.server_uri("postgres")
        return self

    def __exit__(self, *exc) -> None:
        self.pg.stop()

    async def fresh_db(self) -> str:
        self.n += 1
        name = f"bench_{self.n}"
        conn = await asyncpg.connect(plain(self.admin))
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        url = self.pg.server_uri(name)
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def server(database_url: str, **env: str):
    """`tracesvc serve` in a child process on a free port; yields its target."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="tracesvc-bench-srv-")
    env.setdefault("TRACESVC_WORKERS", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracesvc.app.cli", "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "TRACESVC_LISTEN": f"127.0.0.1:{port}",
            "TRACESVC_AUTH": "off",
            "TRACESVC_LOG_LEVEL": "warning",
            "TRACESVC_DATA_DIR": data,
            "TRACESVC_DB_POOL_SIZE": "20",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(target) as ch:
            for _ in range(200):
                try:
                    await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
        if env["TRACESVC_WORKERS"] != "1":
            await asyncio.sleep(3)  # let the other workers bind before the load starts
        yield target, proc.pid
    finally:
        proc.terminate()
        proc.wait(60)


def table(title: str, header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True))
    out = [title, line, "-" * len(line)]
    out += ["  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def save(name: str, payload: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    payload = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), **payload}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    return path
