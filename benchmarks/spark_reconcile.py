"""Spark engine vs in-process engine: a full run over the same N events, in one run of this script.

The history is written once, straight through the store (`benchmarks.reconcile.load`: the
simulator's events in batches of 2,000 through `write_events`, no gRPC), into a database kept
in `--pg-dir` so a later run of the script at the same size reuses it (`--reload` to rebuild).
Then, on that one database: an in-process full run, and a Spark full run per `--cores`
(`local[N]`), each from no flags at all (`TRUNCATE flags, return_chains` before each) and each
`reconciler run --full` in its own process. Reported per run: wall seconds (process and JVM start
included), the run's own seconds (from its `reconcile_runs` row), events/s on both, and peak RSS
sampled every 100 ms over the process tree: the Python driver, its JVM (Spark's driver and, in
local mode, its executors), the Python workers (`pyspark.daemon` and its forks; their sum and the
largest one) and the PostgreSQL relay. At the end, the flags of every run are compared: count,
and an MD5 of their identities (flag id, status) and of their contents (flag id, content hash,
chain), which must be the same for every engine.

    python benchmarks/spark_reconcile.py [--events 1000000] [--cores 1 2] [--pg-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import plain, save, table  # noqa: E402
from benchmarks.reconcile import load  # noqa: E402
from tracesvc.store.db import EmbeddedPostgres, create_engine, migrate  # noqa: E402

# What a run leaves behind, compared across engines: identities (id and status), then contents.
IDENTITIES = """SELECT count(*), coalesce(md5(string_agg(flag_id || ':' || status, ',' ORDER BY flag_id)), '-')
FROM flags"""
CONTENTS = """SELECT md5(coalesce(string_agg(f.flag_id || ':' || encode(f.content_hash, 'hex') || ':'
       || coalesce(c.active::text || c.money_fen::text || array_to_string(c.resale_parties, '|'), ''),
       ',' ORDER BY f.flag_id), ''))
FROM flags f LEFT JOIN return_chains c USING (flag_id)"""
BY_RULE = "SELECT rule, count(*) FROM flags GROUP BY rule ORDER BY rule"


@dataclass
class Peaks:
    """Peak RSS in MiB of each role in a run's process tree, and the CPU seconds each role used."""

    driver: int = 0
    jvm: int = 0
    workers: int = 0  # all Python workers at one instant
    worker: int = 0  # the largest single Python worker
    relay: int = 0
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid: (role, user+system seconds)

    baseline: dict[int, float] = field(default_factory=dict)  # PostgreSQL's CPU seconds before the run

    @staticmethod
    def _role(p: psutil.Process, root: psutil.Process) -> str:
        """Asked at every sample: pyspark starts its JVM as a shell script that then becomes `java`."""
        if p.pid == root.pid:
            return "driver"
        if p.name() == "java":
            return "jvm"
        if "reconciler.spark.relay" in " ".join(p.cmdline()):
            return "relay"
        return "workers"

    def sample(self, root: psutil.Process, postgres: list[psutil.Process]) -> None:
        workers = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # the run has just ended
            return
        for p in tree:
            try:
                with p.oneshot():
                    role = self._role(p, root)
                    rss = p.memory_info().rss >> 20
                    t = p.cpu_times()
                self.cpu[p.pid] = (role, t.user + t.system)
            except psutil.Error:
                continue
            if role == "workers":
                workers += rss
                self.worker = max(self.worker, rss)
            else:
                setattr(self, role, max(getattr(self, role), rss))
        self.workers = max(self.workers, workers)
        for p in postgres:
            try:
                t = p.cpu_times()
                self.cpu[p.pid] = ("postgres", t.user + t.system - self.baseline.get(p.pid, 0.0))
            except psutil.Error:
                continue

    def cpu_of(self, *roles: str) -> float:
        return sum(seconds for role, seconds in self.cpu.values() if role in roles)


def backends(postmaster: psutil.Process | None) -> list[psutil.Process]:
    """PostgreSQL's processes (only this script uses this server: all of its CPU is the run's)."""
    return [] if postmaster is None else postmaster.children()


def postmaster_of(data_dir: Path) -> psutil.Process | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, psutil.Error):
        return None


def sampled(cmd: list[str], env: dict[str, str], pg_dir: Path) -> tuple[float, Peaks]:
    """Run `cmd`; (wall seconds, peak RSS and CPU by role), sampled every 100 ms over its process tree
    and over PostgreSQL's processes (their CPU counted from the start of the run)."""
    peaks = Peaks()
    postmaster = postmaster_of(pg_dir)
    for p in backends(postmaster):
        with contextlib.suppress(psutil.Error):
            peaks.baseline[p.pid] = sum(p.cpu_times()[:2])
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        n = 0
        pg: list[psutil.Process] = []
        while not done.is_set():
            if n % 3 == 0:  # new backends appear as Spark's tasks connect
                pg = backends(postmaster)
            peaks.sample(root, pg)
            n += 1
            done.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    t.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{err[-3000:]}")
    return elapsed, peaks


async def prepare(pg: EmbeddedPostgres, events: int, reload: bool) -> tuple[str, int, float]:
    """A database holding a simulated history of ~`events` events: (url, events stored, load seconds).

    Kept between runs of the script (its size is recorded as the database's comment when complete)."""
    name = f"spark_bench_{events}"
    admin = await asyncpg.connect(plain(pg.server_uri("postgres")))
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        if comment and comment.isdigit() and not reload:
            print(f"reusing database {name} ({int(comment):,} events)", flush=True)
            return pg.server_uri(name), int(comment), 0.0
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = pg.server_uri(name)
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    started = time.perf_counter()
    print(f"loading ~{events:,} events into {name} …", flush=True)
    stored, _ = await load(url, events)
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    load_s = time.perf_counter() - started
    admin = await asyncpg.connect(plain(pg.server_uri("postgres")))
    try:
        await admin.execute(f"COMMENT ON DATABASE {name} IS '{stored}'")
    finally:
        await admin.close()
    print(f"loaded {stored:,} events in {load_s:.0f} s", flush=True)
    return url, stored, load_s


async def clear(url: str) -> None:
    """No flags, chains or runs: every engine starts from the same state."""
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute("TRUNCATE flags, return_chains, reconcile_runs CASCADE")
        await conn.execute("VACUUM ANALYZE flags")
    finally:
        await conn.close()


@dataclass
class Outcome:
    """What one run left: its row's timings and counts, and the flags it wrote."""

    run_seconds: float
    codes: int
    sales: int
    buyers: int
    flags: int
    identities: str
    contents: str
    by_rule: dict[str, int]


async def outcome(url: str) -> Outcome:
    conn = await asyncpg.connect(plain(url))
    try:
        run = await conn.fetchrow(
            """SELECT status, extract(epoch FROM finished_at - started_at) AS s, codes_done, sales_done, buyers_done
               FROM reconcile_runs ORDER BY run_id DESC LIMIT 1"""
        )
        assert run is not None and run["status"] == "DONE", run
        flags = await conn.fetchrow(IDENTITIES)
        assert flags is not None
        count, identities = flags
        contents = await conn.fetchval(CONTENTS)
        by_rule = {r["rule"]: r["count"] for r in await conn.fetch(BY_RULE)}
    finally:
        await conn.close()
    return Outcome(
        float(run["s"]), run["codes_done"], run["sales_done"], run["buyers_done"], count, identities, contents, by_rule
    )


def _row(label: str, cores: int, stored: int, wall: float, out: Outcome, peaks: Peaks, spark: bool) -> list:
    dash = "-"
    engine_cpu = peaks.cpu_of("driver", "jvm", "workers", "relay")
    return [
        label,
        cores,
        f"{wall:.1f}",
        f"{out.run_seconds:.1f}",
        f"{stored / wall:,.0f}",
        f"{stored / out.run_seconds:,.0f}",
        f"{engine_cpu:.0f}",
        f"{peaks.cpu_of('workers'):.0f}" if spark else dash,
        f"{peaks.cpu_of('postgres'):.0f}",
        f"{stored / (engine_cpu + peaks.cpu_of('postgres')):,.0f}",
        peaks.driver,
        peaks.jvm if spark else dash,
        f"{peaks.workers} ({peaks.worker})" if spark else dash,
        peaks.relay if spark else dash,
    ]


async def main(events: int, cores: list[int], pg_dir: Path, reload: bool, buckets: int) -> None:
    pg = EmbeddedPostgres(pg_dir / "pg")
    pg.start()
    try:
        url, stored, load_s = await prepare(pg, events, reload)
        env = {**os.environ, "DATABASE_URL": url}
        base = [sys.executable, "-m", "reconciler.cli", "run", "--full", "--quiet"]
        runs: list[tuple[str, int, list[str], bool]] = [("in-process", 1, base, False)]
        for n in cores:
            on_spark = [*base, "--engine", "spark", "--master", f"local[{n}]"]
            runs.append((f"spark local[{n}]", n, on_spark + (["--buckets", str(buckets)] if buckets else []), True))
        rows: list[list] = []
        outcomes: dict[str, Outcome] = {}
        for label, n, cmd, spark in runs:
            await clear(url)
            print(f"{label} …", flush=True)
            wall, peaks = sampled(cmd, env, pg_dir / "pg")
            out = await outcome(url)
            outcomes[label] = out
            rows.append(_row(label, n, stored, wall, out, peaks, spark))
            print(f"  {wall:.1f} s wall, {out.run_seconds:.1f} s run, {out.flags:,} flags", flush=True)
    finally:
        pg.stop()
    header = ["engine", "cores", "wall s", "run s", "events/s wall", "events/s run", "CPU s", "py workers CPU s"]
    header += ["PG CPU s", "events/CPU s", "driver py MiB", "JVM MiB"]
    header += ["py workers MiB (largest)", "relay MiB"]
    print(table(f"full run over {stored:,} events (wall: process and JVM start included)", header, rows))
    base_out = outcomes["in-process"]
    same = all(
        (o.flags, o.identities, o.contents) == (base_out.flags, base_out.identities, base_out.contents)
        for o in outcomes.values()
    )
    check = [
        [label, o.codes, o.sales, o.buyers, o.flags, o.identities, o.contents[:12], o.by_rule]
        for label, o in outcomes.items()
    ]
    print(
        table(
            "flags left by each run (md5 of identities; of contents)",
            ["engine", "codes", "sales", "buyers", "flags", "identities md5", "contents md5", "by rule"],
            check,
        )
    )
    print("flags identical across engines:", "YES" if same else "NO")
    scaling = {}
    if 1 in cores and 2 in cores:
        one, two = outcomes["spark local[1]"], outcomes["spark local[2]"]
        scaling = {"run_seconds_1_over_2": round(one.run_seconds / two.run_seconds, 2)}
        print(f"scaling local[1] → local[2]: {scaling['run_seconds_1_over_2']}× (run seconds)")
    path = save(
        "spark_reconcile",
        {
            "events": stored,
            "load_seconds": round(load_s, 1),
            "header": header,
            "rows": rows,
            "flags": {label: vars(o) for label, o in outcomes.items()},
            "flags_identical": same,
            "scaling": scaling,
        },
    )
    print("saved", path)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--buckets", type=int, default=0, help="Spark buckets (default: the engine's, 4 per core)")
    parser.add_argument(
        "--pg-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tracesvc-spark-bench",
        help="the embedded PostgreSQL's home, kept so a loaded history is reused",
    )
    parser.add_argument("--reload", action="store_true", help="load the history again even if it is there")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.cores, args.pg_dir, args.reload, args.buckets))
