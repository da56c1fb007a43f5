"""Configuration from the environment, with safe defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

# Every variable `tracesvc serve` reads, as `serve --help` lists them: (name, default, meaning).
SERVE_ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("DATABASE_URL", "unset", "PostgreSQL (postgresql://…); unset: an embedded server in the data dir"),
    ("TRACESVC_DATA_DIR", ".tracesvc", "embedded PostgreSQL and the generated HMAC key"),
    ("TRACESVC_LISTEN", "127.0.0.1:50051", "gRPC listen address"),
    ("TRACESVC_HTTP_LISTEN", "off", "HTTP intake (NHSA, EPCIS) and the web console /console/, e.g. 127.0.0.1:8080"),
    ("TRACESVC_METRICS_LISTEN", "off", "Prometheus /metrics on this host:port"),
    ("TRACESVC_AUTH", "required", "off: no credentials checked (local development only)"),
    ("TRACESVC_TLS_CERT, TRACESVC_TLS_KEY", "unset", "serve TLS with this certificate and key (PEM)"),
    ("TRACESVC_TLS_CLIENT_CA", "unset", "require client certificates signed by this CA (mTLS)"),
    ("TRACESVC_HMAC_KEY_FILE", "<data dir>/hmac.key", "key for insured-person tokens; share it between instances"),
    ("TRACESVC_WORKERS", "1", "server processes sharing the port (SO_REUSEPORT)"),
    ("TRACESVC_BULK_PROCESSES", "2", "bulk-lane worker processes per server process; 0: all on the serving loop"),
    ("TRACESVC_BULK_NICE", "10", "niceness added to the bulk-lane workers"),
    ("TRACESVC_DB_POOL_SIZE", "10", "database connections per server process"),
    ("TRACESVC_SHUTDOWN_GRACE_SECONDS", "30", "in-flight calls get this long to finish on SIGTERM"),
    ("TRACESVC_CLOCK_SKEW_SECONDS", "600", "tolerance where two parties' clocks are compared"),
    ("TRACESVC_MAX_FUTURE_SECONDS", "3600", "events dated further ahead are rejected"),
    ("TRACESVC_HTTP_MAX_BYTES", "16777216", "larger HTTP bodies are answered 413"),
    ("TRACESVC_NHSA_UTC_OFFSET", "+08:00", "NHSA local times are at this UTC offset"),
    ("TRACESVC_CONSOLE", "on", "off: no web console on the HTTP listener"),
    ("TRACESVC_CONSOLE_SECURE_COOKIES", "off", "on: Secure cookies (TLS ends in front of the listener)"),
    ("TRACESVC_RECONCILE_PROCESSES", "1", "worker processes of a RunReconciliation run"),
    ("TRACESVC_SPARK_MASTER", "local[2]", "Spark master of RunReconciliation's Spark runs (spark://…, k8s://…)"),
    ("TRACESVC_LAKE", "unset", "the Parquet lake Spark runs read (directory, s3a://…); unset: the database"),
    ("TRACESVC_B_SUPPLY_WINDOW_DAYS, …_ALLOWANCE_DAYS", "90, 30", "rule B OVER_SUPPLY window and allowance"),
    ("TRACESVC_B_MULTI_WINDOW_DAYS, …_PHARMACIES", "7, 3", "rule B MULTI_PHARMACY window and pharmacies"),
    ("TRACESVC_B_TRAVEL_MINUTES", "120", "rule B CARD_TRAVEL travel time"),
    ("TRACESVC_CJK_FONT_DIR", "system fonts", "where the case file's Chinese font is looked for"),
    ("TRACESVC_LOG_LEVEL, TRACESVC_LOG_FORMAT", "info, json", "log level; json or console lines"),
    ("OTEL_TRACES_EXPORTER", "off", "otlp or console: OpenTelemetry traces (the other OTEL_* configure them)"),
)


def environment_help() -> str:
    """The variables as an argparse epilog: one per line, name, default, meaning."""
    width = max(len(name) for name, _, _ in SERVE_ENVIRONMENT)
    lines = [f"  {name:<{width}}  {meaning} (default: {default})" for name, default, meaning in SERVE_ENVIRONMENT]
    return "environment:\n" + "\n".join(lines)


@dataclass(frozen=True)
class Config:
    # PostgreSQL URL; empty: run an embedded PostgreSQL in data_dir/pg.
    database_url: str = ""
    # Where the embedded PostgreSQL and the generated HMAC key live.
    data_dir: Path = Path(".tracesvc")
    listen: str = "127.0.0.1:50051"
    # File with the secret key for hashing insured-person numbers; created (0600) if absent.
    hmac_key_file: Path | None = None
    # Tolerance where two parties' clocks are compared (DESIGN §4).
    clock_skew: timedelta = timedelta(minutes=10)
    # Events dated further in the future than this are rejected (a broken POS clock).
    max_future: timedelta = timedelta(hours=1)
    # How long shutdown lets in-flight calls finish.
    shutdown_grace: float = 30.0
    log_level: str = "info"
    log_format: str = "json"  # json | console
    db_pool_size: int = 10
    # Server processes sharing the listen port (SO_REUSEPORT): Python runs one core per process.
    workers: int = 1
    # Bulk-lane processes per server process: streams and large unary batches are converted,
    # validated and written there, at `bulk_nice` lower CPU priority, so verification and POS
    # sales keep their latency during bulk uploads. 0: everything on the serving loop. Two by
    # default: a worker judges one batch at a time, and a second fills its waits on PostgreSQL.
    bulk_processes: int = 2
    bulk_nice: int = 10
    # Require credentials (bearer API key or mTLS client certificate) on every call but
    # health and reflection. Off only for local development.
    auth: bool = True
    # TLS: server certificate and key (PEM); with a client CA, client certificates are
    # required and their subject CN maps to a key (mTLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # HTTP intake (NHSA 3501–3506, EPCIS 2.0 capture) beside gRPC, e.g. "127.0.0.1:8080"; empty: off.
    http_listen: str = ""
    http_max_bytes: int = 16 * 1024 * 1024  # larger bodies are answered 413
    # The web console (稽查工作台) at /console on the HTTP listener; Secure cookies when TLS ends in
    # front of it (the listener itself speaks plain HTTP).
    console: bool = True
    console_secure_cookies: bool = False
    # NHSA times (sel_retn_time…) are the party's local time at this UTC offset.
    nhsa_utc_offset: timedelta = timedelta(hours=8)
    # Prometheus /metrics on its own HTTP port (host:port); empty: no metrics at all.
    metrics_listen: str = ""
    # OpenTelemetry traces, exported as the standard OTEL_* variables say; on when
    # OTEL_TRACES_EXPORTER names an exporter (otlp, console), off by default.
    tracing: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        data_dir = Path(e.get("TRACESVC_DATA_DIR", ".tracesvc"))
        key_file = e.get("TRACESVC_HMAC_KEY_FILE")
        return cls(
            database_url=e.get("DATABASE_URL", ""),
            data_dir=data_dir,
            listen=e.get("TRACESVC_LISTEN", cls.listen),
            hmac_key_file=Path(key_file) if key_file else None,
            clock_skew=timedelta(seconds=float(e.get("TRACESVC_CLOCK_SKEW_SECONDS", 600))),
            max_future=timedelta(seconds=float(e.get("TRACESVC_MAX_FUTURE_SECONDS", 3600))),
            shutdown_grace=float(e.get("TRACESVC_SHUTDOWN_GRACE_SECONDS", 30)),
            log_level=e.get("TRACESVC_LOG_LEVEL", "info"),
            log_format=e.get("TRACESVC_LOG_FORMAT", "json"),
            db_pool_size=int(e.get("TRACESVC_DB_POOL_SIZE", 10)),
            workers=max(1, int(e.get("TRACESVC_WORKERS", 1))),
            bulk_processes=max(0, int(e.get("TRACESVC_BULK_PROCESSES", 2))),
            bulk_nice=min(19, max(0, int(e.get("TRACESVC_BULK_NICE", 10)))),
            auth=e.get("TRACESVC_AUTH", "required").lower() not in ("off", "false", "0", "no"),
            tls_cert=Path(e["TRACESVC_TLS_CERT"]) if e.get("TRACESVC_TLS_CERT") else None,
            tls_key=Path(e["TRACESVC_TLS_KEY"]) if e.get("TRACESVC_TLS_KEY") else None,
            tls_client_ca=Path(e["TRACESVC_TLS_CLIENT_CA"]) if e.get("TRACESVC_TLS_CLIENT_CA") else None,
            http_listen=e.get("TRACESVC_HTTP_LISTEN", ""),
            http_max_bytes=int(e.get("TRACESVC_HTTP_MAX_BYTES", 16 * 1024 * 1024)),
            console=e.get("TRACESVC_CONSOLE", "on").lower() not in ("off", "false", "0", "no"),
            console_secure_cookies=e.get("TRACESVC_CONSOLE_SECURE_COOKIES", "").lower() in ("1", "true", "yes", "on"),
            nhsa_utc_offset=_utc_offset(e.get("TRACESVC_NHSA_UTC_OFFSET", "+08:00")),
            metrics_listen=e.get("TRACESVC_METRICS_LISTEN", "").strip(),
            tracing=e.get("OTEL_TRACES_EXPORTER", "none").strip().lower() not in ("", "none")
            and e.get("OTEL_SDK_DISABLED", "").lower() != "true",
        )

    def server_credentials(self):
        """grpc server credentials when TLS is configured, else None (plain text, for loopback)."""
        if self.tls_cert is None:
            return None
        if self.tls_key is None:
            raise ValueError("TRACESVC_TLS_CERT is set without TRACESVC_TLS_KEY")
        import grpc

        ca = self.tls_client_ca.read_bytes() if self.tls_client_ca else None
        return grpc.ssl_server_credentials(
            [(self.tls_key.read_bytes(), self.tls_cert.read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )

    def load_hmac_key(self) -> bytes:
        """The key for buyer tokens. Without a configured file, one is generated in data_dir once."""
        path = self.hmac_key_file or self.data_dir / "hmac.key"
        if not path.exists():
            if self.hmac_key_file is not None:
                raise FileNotFoundError(f"TRACESVC_HMAC_KEY_FILE {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        key = path.read_text().strip()
        if len(key) < 32:
            raise ValueError(f"HMAC key in {path} is too short (want at least 32 hex characters)")
        return bytes.fromhex(key) if all(c in "0123456789abcdefABCDEF" for c in key) else key.encode()


def _utc_offset(text: str) -> timedelta:
    """'+08:00' → 8 hours; '-05:30' → -5.5 hours."""
    sign = -1 if text.strip().startswith("-") else 1
    hours, _, minutes = text.strip().lstrip("+-").partition(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes or 0))
