"""The rules' input read, as the reconciler ran it before migration 0010 (a sale line's fund paid and
scans picked out of the JSON payload by position) and as it runs now (`event_codes.fund_fen`, written
at ingest), on one simulated history, in one run: server time of each, and a check that they return
the same rows.

    python benchmarks/named_values.py [--events 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, plain, save, table  # noqa: E402
from benchmarks.reconcile import load  # noqa: E402
from reconciler.store.loads import CODE_EVENT_COLUMNS, CODE_EVENT_SOURCE  # noqa: E402

# What CODE_EVENT_COLUMNS selected before 0010 (tracesvc 2026-11, reconciler/store.py).
POSITIONAL = CODE_EVENT_COLUMNS.replace(
    "ec.fund_fen AS fund",
    """CASE WHEN e.kind = 'SALE' THEN coalesce(
           (e.payload #>> ARRAY['lines', ec.line_no::text, '5'])::bigint
           * (SELECT count(*) FROM jsonb_array_elements(e.payload #> ARRAY['lines', ec.line_no::text, '6']) s
              WHERE s ->> 0 = ec.code)
           / greatest(1, jsonb_array_length(e.payload #> ARRAY['lines', ec.line_no::text, '6'])), 0)
       ELSE 0 END AS fund""",
)


async def timed(conn: asyncpg.Connection, columns: str, repeat: int) -> tuple[list[float], list[float], list]:
    """(seconds to fetch every row, server execution seconds from EXPLAIN ANALYZE, the rows)."""
    sql = f"SELECT {columns}\n{CODE_EVENT_SOURCE}\nORDER BY ec.code, e.event_seq, ec.line_no"
    seconds, server, rows = [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = await conn.fetch(sql)
        seconds.append(time.perf_counter() - start)
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}")
        server.append(json.loads(plan)[0]["Execution Time"] / 1000)
    return seconds, server, [tuple(r) for r in rows]


async def main(events: int, repeat: int) -> None:
    with Bench() as bench:
        url = await bench.fresh_db()
        stored, _ = await load(url, events)
        conn = await asyncpg.connect(plain(url))
        try:
            await conn.execute("VACUUM ANALYZE")
            by_position, server_position, before = await timed(conn, POSITIONAL, repeat)
            by_name, server_name, after = await timed(conn, CODE_EVENT_COLUMNS, repeat)
        finally:
            await conn.close()
    assert before == after, "the two reads must return the same rows"
    p, n = statistics.median(by_position), statistics.median(by_name)
    sp, sn = statistics.median(server_position), statistics.median(server_name)
    rows = [
        ["payload by position (before 0010)", len(before), f"{p * 1000:.0f}", "1.00", f"{sp * 1000:.0f}", "1.00"],
        [
            "event_codes.fund_fen (now)",
            len(after),
            f"{n * 1000:.0f}",
            f"{p / n:.2f}",
            f"{sn * 1000:.0f}",
            f"{sp / sn:.2f}",
        ],
    ]
    print(f"{stored} events stored; median of {repeat} reads of every trace code's events")
    header = ["read", "rows", "fetched ms", "ratio", "server ms", "ratio"]
    print(table("The rules' input read", header, rows))
    save(
        "named_values",
        {
            "events": stored,
            "rows": len(after),
            "fetch_s": [by_position, by_name],
            "server_s": [server_position, server_name],
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.repeat))
