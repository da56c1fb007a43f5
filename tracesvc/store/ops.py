"""Operational figures for the metrics endpoint, each one cheap enough to compute at every scrape."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.store.db import pg


class FlagCount(NamedTuple):
    rule: str
    kind: str
    status: str
    flags: int


class LastRun(NamedTuple):
    mode: str
    status: str
    codes_done: int
    sales_done: int
    flags_new: int
    flags_resolved: int


class Standing(NamedTuple):
    flags: list[FlagCount]
    lag_seconds: float  # age of the oldest stored event no finished run has reconciled (0: none waiting)
    last_runs: list[LastRun]  # the newest run of each mode
    last_success: dict[str, datetime]  # mode -> when its newest DONE run finished


# An index-only scan of ix_flags_status_rule (status, rule, kind).
_FLAGS = "SELECT rule, kind, status, count(*) AS n FROM flags GROUP BY rule, kind, status"
# What the next incremental run would re-evaluate (reconciler/jobs.py: rows stored from the newest
# DONE run's snapshot horizon on), found through the BRIN index on ingest_xid: the cost follows the
# rows waiting, not the history. Before any run, every event waits (one full scan).
_LAG = """SELECT coalesce(extract(epoch FROM clock_timestamp() - min(received_at)), 0)::float8
          FROM events
          WHERE ingest_xid >= coalesce((SELECT max(xid_to) FROM reconcile_runs WHERE status = 'DONE'), 0)"""
# reconcile_runs holds one row per run: small.
_LAST_RUNS = """SELECT DISTINCT ON (mode) mode, status, codes_done, sales_done, flags_new, flags_resolved
                FROM reconcile_runs ORDER BY mode, run_id DESC"""
_LAST_SUCCESS = "SELECT mode, max(finished_at) AS at FROM reconcile_runs WHERE status = 'DONE' GROUP BY mode"


async def standing(engine: AsyncEngine) -> Standing:
    """Flags standing by rule/kind/status, the reconciliation lag, and the newest runs."""
    async with pg(engine) as conn:
        flags = [FlagCount(r["rule"], r["kind"], r["status"], r["n"]) for r in await conn.fetch(_FLAGS)]
        lag = await conn.fetchval(_LAG)
        runs = [
            LastRun(r["mode"], r["status"], r["codes_done"], r["sales_done"], r["flags_new"], r["flags_resolved"])
            for r in await conn.fetch(_LAST_RUNS)
        ]
        success = {r["mode"]: r["at"] for r in await conn.fetch(_LAST_SUCCESS)}
    return Standing(flags, float(lag), runs, success)
