"""Where the ingest time goes: per-stage cost of the pipeline (convert, validate, serialise) and
per-statement cost of the write path, on simulated events, in one process.

    python benchmarks/profile_ingest.py [--boxes 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, save, table  # noqa: E402
from benchmarks.ingest import KEY, SimRegistry, unique_events  # noqa: E402
from tracesvc.api import convert  # noqa: E402
from tracesvc.domain.events import normalize_event  # noqa: E402
from tracesvc.store import events as store_events  # noqa: E402
from tracesvc.store.db import create_engine, pg  # noqa: E402


def timed_connection_class(cls, timings: dict[str, float]) -> None:
    """Wrap asyncpg's query methods to add up the time each statement takes."""
    for name in ("fetch", "execute", "copy_records_to_table"):
        original = getattr(cls, name)

        def wrapper(original=original, name=name):
            async def timed(self, query, *args, **kwargs):
                started = time.perf_counter()
                try:
                    return await original(self, query, *args, **kwargs)
                finally:
                    text = re.sub(r"__asyncpg_savepoint_\w+__", "(savepoint)", " ".join(str(query).split()))
                    key = f"{name}: {text[:48]}"
                    timings[key] = timings.get(key, 0.0) + time.perf_counter() - started

            return timed

        setattr(cls, name, wrapper())


async def main(boxes: int) -> None:
    events = unique_events(boxes)
    reg = SimRegistry()
    n = len(events)
    t0 = time.perf_counter()
    drafts = [
        convert.event_from_proto(convert.ONEOF_KIND[e.WhichOneof("kind")], getattr(e, e.WhichOneof("kind")), KEY)[0]
        for e in events
    ]
    t1 = time.perf_counter()
    normalized = [normalize_event(d, reg) for d in drafts]
    t2 = time.perf_counter()
    for e in normalized:
        e.serialized()
    t3 = time.perf_counter()
    rows = [
        ["proto -> draft (convert)", f"{1e6 * (t1 - t0) / n:.1f}"],
        ["validate + normalise codes", f"{1e6 * (t2 - t1) / n:.1f}"],
        ["canonical JSON + SHA-256", f"{1e6 * (t3 - t2) / n:.1f}"],
    ]
    timings: dict[str, float] = {}
    with Bench() as bench:
        url = await bench.fresh_db()
        engine = create_engine(url)
        async with pg(engine) as conn:
            timed_connection_class(type(conn), timings)
        started = time.perf_counter()
        for i in range(0, n, 500):
            await store_events.write_events(engine, normalized[i : i + 500])
        total = time.perf_counter() - started
        await engine.dispose()
    rows.append(["write_events, all (500 a batch)", f"{1e6 * total / n:.1f}"])
    rows += [[f"  {k}", f"{1e6 * v / n:.1f}"] for k, v in sorted(timings.items(), key=lambda x: -x[1])]
    print(table(f"ingest pipeline, {n} simulated events (mostly one code each)", ["stage", "µs per event"], rows))
    print("saved", save("profile_ingest", {"events": n, "rows": rows}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=4000)
    asyncio.run(main(parser.parse_args().boxes))
