"""Fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test
(cloned from a template), and a real gRPC server on a free port."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc is imported

import asyncpg  # noqa: E402
import grpc  # noqa: E402
import pytest  # noqa: E402

from tracesvc.app.config import Config
from tracesvc.store.db import EmbeddedPostgres, asyncpg_url, create_engine, migrate
from tracesvc.v1 import ingest_pb2_grpc, registry_pb2_grpc

TEMPLATE = "tracesvc_template"
_counter = itertools.count()


def _plain(url: str) -> str:
    """asyncpg.connect wants postgresql://, not SQLAlchemy's postgresql+asyncpg://."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def _db_url(admin_url: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A PostgreSQL to create test databases on: TEST_DATABASE_URL, else an embedded one.

    The embedded server lives in a directory of its own, not under pytest's numbered temp
    dirs: a concurrent pytest session prunes old numbered dirs and would delete it mid-run.
    """
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    home = Path(tempfile.mkdtemp(prefix="tracesvc-test-pg-"))
    server = EmbeddedPostgres(home / "data")
    server.start()
    try:
        yield server.server_uri("postgres")
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_db(pg_admin_url) -> str:
    conn = await asyncpg.connect(_plain(pg_admin_url))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    engine = create_engine(_db_url(pg_admin_url, TEMPLATE))
    await migrate(engine)
    await engine.dispose()
    return TEMPLATE


@contextlib.asynccontextmanager
async def fresh_database(pg_admin_url: str, template: str):
    """A new database copied from the migrated template, dropped afterwards; yields its URL."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(_plain(pg_admin_url))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await conn.close()
    try:
        yield _db_url(pg_admin_url, name)
    finally:
        conn = await asyncpg.connect(_plain(pg_admin_url))
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture
async def db_url(pg_admin_url, template_db) -> str:
    """A fresh, migrated database for one test."""
    async with fresh_database(pg_admin_url, template_db) as url:
        yield url


@pytest.fixture
async def second_db_url(pg_admin_url, template_db) -> str:
    """Another one, for a test that compares two services side by side."""
    async with fresh_database(pg_admin_url, template_db) as url:
        yield url


@pytest.fixture
def config(db_url, tmp_path) -> Config:
    key = tmp_path / "hmac.key"
    key.write_text("5e" * 32)
    # Most tests exercise behaviour, not access: they run with authentication off;
    # tests/integration/test_auth.py switches it on.
    return replace(Config(), database_url=db_url, data_dir=tmp_path, hmac_key_file=key, shutdown_grace=5.0, auth=False)


@dataclass
class Service:
    port: int
    channel: grpc.aio.Channel
    engine: object
    running: object

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channel)

    @property
    def registry(self) -> registry_pb2_grpc.RegistryServiceStub:
        return registry_pb2_grpc.RegistryServiceStub(self.channel)


@contextlib.asynccontextmanager
async def start_service(config: Config):
    from tracesvc import client
    from tracesvc.app.server import database, grpc_server

    async with database(config) as engine, grpc_server(config, engine, listen="127.0.0.1:0") as running:
        async with client.channel(f"127.0.0.1:{running.port}") as ch:
            yield Service(running.port, ch, engine, running)


@pytest.fixture
async def service(config):
    async with start_service(config) as svc:
        yield svc


@pytest.fixture
async def raw_db(db_url):
    """A plain asyncpg connection to the test database, to look at what was stored."""
    conn = await asyncpg.connect(_plain(db_url))
    yield conn
    await conn.close()


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs():
    from tracesvc.observability import logs

    logs.configure("warning", "json")
