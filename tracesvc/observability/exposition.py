"""The /metrics endpoint (prometheus_client, imported only when metrics are on) and the
multiprocess set-up of several serving workers."""

# ruff: noqa: PLC0415  -- prometheus_client is imported only once metrics are on
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracesvc.observability import metrics

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.registry import Collector


@dataclass
class Endpoint:
    server: WSGIServer
    port: int

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(listen: str, collectors: Sequence[Collector] = ()) -> Endpoint:
    """Serve /metrics on `listen` (host:port; port 0 picks one) from a daemon thread: this process's
    metrics (or every worker's, in multiprocess mode) and `collectors` (e.g. the database gauges)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics.enable()
    registry = CollectorRegistry()  # one per endpoint: tests start several servers in one process
    directory = metrics.multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)
    else:
        own = metrics.registry()
        assert own is not None
        registry.register(own)
    for collector in collectors:
        registry.register(collector)
    host, _, port = listen.rpartition(":")
    server, _ = start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    return Endpoint(server, server.server_port)


def prepare_multiprocess(workers: int, data_dir: str) -> str | None:
    """Before `enable()`, with several workers: a clean PROMETHEUS_MULTIPROC_DIR (given, or under
    data_dir) in this process's environment, which the workers inherit. Returns the directory."""
    if workers <= 1 and metrics.multiprocess_dir() is None:
        return None
    directory = metrics.multiprocess_dir() or os.path.join(data_dir, "prometheus")
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # values of a previous server's processes
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))
    os.environ[metrics.MULTIPROC_ENV] = directory
    return directory


def process_dead(pid: int) -> None:
    """A worker ended: drop its live gauges (pool in use/waiting) from the sums."""
    if metrics.multiprocess_dir() is not None and metrics.enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
