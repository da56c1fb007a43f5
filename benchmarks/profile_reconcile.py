"""Where a full in-process run's time goes, on a history kept by `reconcile.py --compare --keep DIR`:
each phase's wall seconds and, with --cprofile, the coordinator's top functions (worker processes,
if any, are not in the profile; their CPU is in reconcile.py's table).

    python benchmarks/profile_reconcile.py --keep /tmp/rec-1m [--processes 2] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.jobs import Mode, Reconciler, RunInfo  # noqa: E402
from tracesvc.store.db import EmbeddedPostgres, create_engine, pg  # noqa: E402


async def main(keep: Path, processes: int, profile: bool) -> None:
    server = EmbeddedPostgres(keep / "pg")
    server.start()
    engine = create_engine(server.server_uri("bench_kept"))
    try:
        async with pg(engine) as conn:
            await conn.execute("TRUNCATE flags, return_chains, reconcile_runs")
        marks: dict[str, float] = {}
        started = time.perf_counter()

        def progress(info: RunInfo) -> None:
            if info.sales_done and "codes" not in marks:
                marks["codes"] = time.perf_counter() - started
            if info.buyers_done and "sales" not in marks:
                marks["sales"] = time.perf_counter() - started

        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        reconciler = Reconciler(engine, skew=timedelta(minutes=10), processes=processes)
        info = await reconciler.run(Mode.FULL, progress=progress)
        if prof:
            prof.disable()
        total = time.perf_counter() - started
        codes, sales = marks.get("codes", total), marks.get("sales", total)
        print(f"processes={processes}: {total:.1f} s, {info.codes_done:,} codes, {info.sales_done:,} sales")
        print(f"  codes phase {codes:.1f} s, sales phase {sales - codes:.1f} s, buyers phase {total - sales:.1f} s")
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
            print(out.getvalue())
    finally:
        await engine.dispose()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, default=Path("/tmp/tracesvc-reconcile-kept"))
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.keep, args.processes, args.cprofile))
