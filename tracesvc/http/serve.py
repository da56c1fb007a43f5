"""Run the HTTP intake on uvicorn inside the running event loop (beside grpc.aio)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator

import uvicorn
from starlette.applications import Starlette


class _Embedded(uvicorn.Server):
    """uvicorn without its own signal handlers: the process's (tracesvc.app.server.serve) stop both servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


@contextlib.asynccontextmanager
async def http_server(app: Starlette, listen: str, *, grace: float = 5.0) -> AsyncIterator[int]:
    """Serve `app` on `listen` ("host:port"; port 0 picks a free one) and yield the bound port."""
    host, port = split_listen(listen)
    server = _Embedded(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(grace),
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error (port taken…)
            raise OSError(f"cannot listen on {listen} for HTTP")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield bound
    finally:
        server.should_exit = True
        await task
