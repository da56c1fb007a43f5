"""Spark engine vs in-process engine: a full run over the same N events, in one run of this script.

Both runs go through the `reconciler` command in their own process. Reported: events/s, the
peak RSS of the driver's Python process, of its JVM (Spark's driver and, in local mode, its
executors), and of the Python workers together; in-process: the one process.

    python benchmarks/spark_reconcile.py [--events 1000000] [--cores 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, save, table  # noqa: E402
from benchmarks.reconcile import load  # noqa: E402


def _sampled(cmd: list[str], env: dict[str, str]) -> tuple[float, dict[str, int]]:
    """Run `cmd`; (seconds, peak RSS in MiB by role) sampled every 100 ms over its process tree."""
    peaks = {"driver": 0, "jvm": 0, "workers": 0}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                workers = 0
                for p in tree:
                    rss = p.memory_info().rss >> 20
                    name = p.name()
                    if p.pid == proc.pid:
                        peaks["driver"] = max(peaks["driver"], rss)
                    elif name == "java":
                        peaks["jvm"] = max(peaks["jvm"], rss)
                    else:
                        workers += rss
                peaks["workers"] = max(peaks["workers"], workers)
            except psutil.Error:
                pass
            done.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    done.set()
    t.join()
    if proc.returncode:
        raise RuntimeError(err[-2000:])
    return time.perf_counter() - started, peaks


async def main(events: int, cores: list[int]) -> None:
    rows = []
    with Bench() as bench:
        url = await bench.fresh_db()
        stored, _ = await load(url, events)
        env = {**os.environ, "DATABASE_URL": url}
        base = [sys.executable, "-m", "reconciler.cli", "run", "--full", "--quiet"]
        seconds, peak = _sampled(base, env)
        rows.append(["in-process", "1", f"{seconds:.1f}", f"{stored / seconds:,.0f}", peak["driver"], "-", "-"])
        for n in cores:
            seconds, peak = _sampled([*base, "--engine", "spark", "--master", f"local[{n}]"], env)
            rows.append(
                [
                    f"spark local[{n}]",
                    str(n),
                    f"{seconds:.1f}",
                    f"{stored / seconds:,.0f}",
                    peak["driver"],
                    peak["jvm"],
                    peak["workers"],
                ]
            )
    print(
        table(
            f"full run over {stored:,} events (process start included)",
            ["engine", "cores", "seconds", "events/s", "driver RSS MiB", "JVM RSS MiB", "py workers MiB"],
            rows,
        )
    )
    print("saved", save("spark_reconcile", {"events": stored, "rows": rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    asyncio.run(main(args.events, args.cores))
