"""A Spark run started by the service: its own `reconciler` process, so the server never hosts a JVM.

The child records everything on the run row; if it dies before it can (killed, out of
memory), the parent leaves the run FAILED with the end of the child's error output.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.jobs import Reconciler, RunInfo, Status
from reconciler.store.runs import mark_failed
from tracesvc.store.db import pg

MASTER_ENV = "TRACESVC_SPARK_MASTER"  # the service's Spark master, default local[2]
LAKE_ENV = "TRACESVC_LAKE"  # the lake the service's Spark runs read (unset: its own database)


def service_lake() -> str | None:
    """The lake the service's Spark runs read, from its environment (a directory or s3a://…, hdfs://…)."""
    return os.environ.get(LAKE_ENV) or None


def command(run_id: int, master: str, buckets: int) -> list[str]:
    out = [sys.executable, "-m", "reconciler.cli", "run", "--resume", str(run_id), "--quiet", "--master", master]
    return out + (["--buckets", str(buckets)] if buckets else [])


async def run_detached(engine: AsyncEngine, run_id: int, buckets: int = 0) -> RunInfo:
    master = os.environ.get(MASTER_ENV, "local[2]")
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    proc = await asyncio.create_subprocess_exec(
        *command(run_id, master, buckets), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:
        proc.terminate()  # the child marks its run FAILED ("interrupted") on SIGTERM
        await proc.wait()
        raise
    info = await Reconciler(engine).get(run_id)
    assert info is not None
    if info.status is Status.RUNNING:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        async with pg(engine) as conn:
            await mark_failed(conn, run_id, f"spark job process exited with {proc.returncode}: " + " ".join(tail))
        info = await Reconciler(engine).get(run_id)
        assert info is not None
    return info
