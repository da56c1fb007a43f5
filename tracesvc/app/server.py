"""Wiring: database (embedded or given), servicers, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timezone

import grpc
import structlog
from grpc_health.v1 import _async as health_aio  # what `health.aio` re-exports; typed for mypy
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from reconciler.jobs import Reconciler
from reconciler.rules import BuyerParams
from tracesvc.api import enforcement as enforcement_api
from tracesvc.api.auth import AuthInterceptor
from tracesvc.api.bulk import BulkLane, LaneSettings
from tracesvc.api.cases import CaseServicer
from tracesvc.api.errors import ServiceErrorInterceptor
from tracesvc.api.hygiene import HygieneInterceptor
from tracesvc.api.ingest import IngestServicer
from tracesvc.api.interceptors import RequestLogInterceptor
from tracesvc.api.reconcile import ReconcileServicer
from tracesvc.api.registry import RegistryServicer
from tracesvc.api.routing import IngestRouter
from tracesvc.api.verify import VerifyServicer
from tracesvc.app import telemetry
from tracesvc.app.config import Config
from tracesvc.documents import fonts
from tracesvc.observability import exposition, metrics
from tracesvc.service.authn import Authenticator
from tracesvc.service.cases import Cases
from tracesvc.service.enforcement import Enforcement
from tracesvc.service.ingest import Ingestor
from tracesvc.service.intake import IntakeService, IntakeSettings
from tracesvc.service.registry import Registry
from tracesvc.service.runs import RunControl
from tracesvc.service.verify import Verifier
from tracesvc.store.db import EmbeddedPostgres, create_engine, migrate
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import (
    enforcement_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    reconcile_pb2,
    reconcile_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    verify_pb2,
    verify_pb2_grpc,
)

log = structlog.get_logger(__name__)

SERVICE_NAMES = tuple(
    service.full_name
    for module in (registry_pb2, ingest_pb2, verify_pb2, reconcile_pb2, enforcement_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    engine: AsyncEngine
    health: health_aio.HealthServicer
    reconciler: Reconciler
    intake: IntakeService | None = None
    http_port: int = 0  # 0: HTTP intake off
    metrics_port: int | None = None


@contextlib.asynccontextmanager
async def database(config: Config) -> AsyncIterator[AsyncEngine]:
    """The configured PostgreSQL, or an embedded one in data_dir/pg; migrated to head."""
    embedded = None
    url = config.database_url
    if not url:
        embedded = EmbeddedPostgres((config.data_dir / "pg").resolve())
        url = await asyncio.to_thread(embedded.start)
    engine = create_engine(url, pool_size=config.db_pool_size)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def grpc_server(
    config: Config,
    engine: AsyncEngine,
    listen: str | None = None,
    http_listen: str | None = None,
    *,
    warm_lane: bool = False,
) -> AsyncIterator[Running]:
    """A started server on `listen` (port 0 picks a free one); stopped gracefully on exit.

    With `http_listen` (default: config.http_listen; empty: off) the HTTP intake runs beside it.
    With `warm_lane` the bulk lane's workers are started before the server is (`serve` does; tests
    and the demo start them at the first bulk call).
    """
    hmac_key = config.load_hmac_key()
    cache = RegistryCache(engine)
    await cache.refresh(force=True)
    authenticator = Authenticator(engine)  # one key cache for gRPC and HTTP: a revocation reaches both
    tel = telemetry.start(config, engine)
    server = grpc.aio.server(
        # Metrics and traces outermost, then logging, so denied calls are counted, traced and logged too;
        # use-case refusals become statuses, and requests are checked (input hygiene) innermost.
        interceptors=[
            *tel.interceptors,
            RequestLogInterceptor(),
            AuthInterceptor(authenticator, enabled=config.auth),
            ServiceErrorInterceptor(),
            HygieneInterceptor(),
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # A fixed HTTP/2 receive window of 32 KiB (~1,300 codes of delivery notes) instead of
            # one that grows with the bandwidth-delay estimate to megabytes: what a stream's client
            # has sent and the service has not yet taken is bounded, so acks follow sends within a
            # fraction of a second at full throughput (issue 13). Its own read-ahead: ReadAhead.
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", 32 * 1024),
        ],
    )
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(Registry(engine, cache)), server)
    ingestor = Ingestor(engine, cache, max_future=config.max_future)
    lane = _bulk_lane(config, engine, hmac_key)
    router = IngestRouter(ingestor, hmac_key, lane)
    intake = IntakeService(
        engine,
        router,
        cache,
        IntakeSettings(hmac_key, zone=timezone(config.nhsa_utc_offset), max_future=config.max_future),
    )
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(router, intake), server)
    verify_pb2_grpc.add_VerifyServiceServicer_to_server(VerifyServicer(Verifier(engine, cache)), server)
    reconciler = Reconciler(engine, skew=config.clock_skew, buyer_params=BuyerParams.from_env(os.environ))
    runs = RunControl(reconciler)
    reconcile_pb2_grpc.add_ReconcileServiceServicer_to_server(ReconcileServicer(runs), server)
    enforcement = Enforcement(engine, hmac_key, cache)
    cases = Cases(engine, cache)
    enforcement_api.add_to_server(
        server, enforcement_api.EnforcementServicer(enforcement, cases), CaseServicer(cases, enforcement)
    )
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if warm_lane and lane is not None:
        await lane.warm(ingestor.registry_generation)
    address = listen or config.listen
    credentials = config.server_credentials()
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {listen or config.listen}")
    await server.start()
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if not fonts.available():  # case files cannot be printed: say so on health, and ExportCase refuses
        log.warning("cjk_font_missing", hint=fonts.INSTALL_HINT)
        await health_servicer.set(
            enforcement_pb2.DESCRIPTOR.services_by_name["EnforcementService"].full_name,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
    try:
        async with contextlib.AsyncExitStack() as stack:
            http_port = 0
            if http_listen if http_listen is not None else config.http_listen:
                console = _console(config, authenticator, enforcement=enforcement, cases=cases, runs=runs, key=hmac_key)
                http_port = await stack.enter_async_context(_http(config, authenticator, intake, http_listen, console))
            # One line that says where everything is and how callers are let in.
            log.info(
                "serving",
                port=port,
                grpc=f"{address.rpartition(':')[0]}:{port}",
                http=f"{(http_listen or config.http_listen).rpartition(':')[0]}:{http_port}" if http_port else "off",
                console="/console/" if http_port and config.console else "off",
                metrics=f"{(config.metrics_listen or '').rpartition(':')[0]}:{tel.metrics_port}"
                if tel.metrics_port
                else "off",
                auth=("mTLS or API key" if config.tls_client_ca else "API key")
                if config.auth
                else "OFF (no keys checked)",
                tls="on" if credentials else "off",
            )
            yield Running(server, port, engine, health_servicer, reconciler, intake, http_port, tel.metrics_port)
    finally:
        # Refuse new work, let in-flight calls commit and answer, then close. Background
        # reconciliation runs stop between batches and stay resumable.
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace=config.shutdown_grace)
        await reconciler.shutdown()
        if lane is not None:
            await asyncio.to_thread(lane.close, config.shutdown_grace)
        tel.close()
        log.info("stopped")


def _bulk_lane(config: Config, engine: AsyncEngine, hmac_key: bytes) -> BulkLane | None:
    if config.bulk_processes == 0:
        return None
    settings = LaneSettings(
        database_url=engine.url.render_as_string(hide_password=False),
        hmac_key=hmac_key,
        max_future=config.max_future,
        nice=config.bulk_nice,
        log_level=config.log_level,
        log_format=config.log_format,
        metrics=metrics.enabled(),  # telemetry has started: the workers' batches are counted here
    )
    return BulkLane(settings, config.bulk_processes)


def _console(
    config: Config,
    authenticator: Authenticator,
    *,
    enforcement: Enforcement,
    cases: Cases,
    runs: RunControl,
    key: bytes,
) -> Starlette | None:
    """The web console over the same use cases as the servicers (None when switched off)."""
    if not config.console:
        return None
    from tracesvc.console.app import ConsoleSettings, UseCases, build_console

    settings = ConsoleSettings(auth=config.auth, secure_cookies=config.console_secure_cookies)
    return build_console(UseCases(enforcement, cases, runs, key), authenticator, settings)


def _http(
    config: Config,
    authenticator: Authenticator,
    intake: IntakeService,
    listen: str | None,
    console: Starlette | None = None,
) -> contextlib.AbstractAsyncContextManager[int]:
    from tracesvc.http.app import HttpSettings, build_app
    from tracesvc.http.serve import http_server

    app = build_app(intake, authenticator, HttpSettings(config.auth, config.http_max_bytes), console)
    return http_server(app, listen or config.http_listen, grace=min(config.shutdown_grace, 10))


async def serve(config: Config) -> None:
    """Run until SIGINT or SIGTERM, then drain in-flight calls and stop.

    With TRACESVC_WORKERS > 1 this process also starts that many minus one copies of
    itself on the same database and port (SO_REUSEPORT, on by default in gRPC on Linux);
    the kernel spreads connections over them, and each drains on its own at shutdown.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if config.metrics_listen:  # before metrics are created: the workers inherit the directory
        exposition.prepare_multiprocess(config.workers, str(config.data_dir))
    async with database(config) as engine:
        workers = _start_workers(config, engine) if config.workers > 1 else []
        try:
            async with grpc_server(config, engine, warm_lane=True):
                await stop.wait()
                log.info("shutting_down", grace_s=config.shutdown_grace)
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                await asyncio.to_thread(proc.wait, config.shutdown_grace + 15)
                exposition.process_dead(proc.pid)


def _start_workers(config: Config, engine: AsyncEngine) -> list[subprocess.Popen]:
    if config.listen.rsplit(":", 1)[-1] == "0":
        raise ValueError("TRACESVC_WORKERS > 1 needs a fixed port in TRACESVC_LISTEN")
    env = {
        **os.environ,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TRACESVC_WORKERS": "1",
        "TRACESVC_DATA_DIR": str(config.data_dir),
        "TRACESVC_METRICS_LISTEN": "",  # the parent serves /metrics for all (multiprocess mode)
    }
    if config.hmac_key_file is None:  # every worker must hash buyers with the same key
        config.load_hmac_key()
        env["TRACESVC_HMAC_KEY_FILE"] = str(config.data_dir / "hmac.key")
    return [
        subprocess.Popen([sys.executable, "-m", "tracesvc.app.cli", "serve"], env=env)
        for _ in range(config.workers - 1)
    ]
