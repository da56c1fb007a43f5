"""Shared helpers for reconciliation tests: run, and read the live flags back."""

from __future__ import annotations

from datetime import timedelta

from reconciler.jobs import Mode, Reconciler


async def run(engine, mode: Mode = Mode.FULL, **kw):
    return await Reconciler(engine, skew=timedelta(minutes=10), **kw).run(mode)


async def live_flags(raw_db) -> set[tuple]:
    """The findings that stand (not RESOLVED), with what they say: what full and incremental must agree on."""
    rows = await raw_db.fetch(
        """SELECT rule, kind, code, decisive_event_id, severity, subject_party, related_parties, evidence, money_fen
           FROM flags WHERE status <> 'RESOLVED'"""
    )
    return {
        (
            r["rule"],
            r["kind"],
            r["code"],
            r["decisive_event_id"],
            r["severity"],
            r["subject_party"],
            tuple(r["related_parties"]),
            tuple(r["evidence"]),
            r["money_fen"],
        )
        for r in rows
    }


async def flag_kinds(raw_db, status: str | None = None) -> list[tuple[str, str, str]]:
    q = "SELECT rule, kind, decisive_event_id FROM flags"
    if status:
        rows = await raw_db.fetch(q + " WHERE status = $1", status)
    else:
        rows = await raw_db.fetch(q + " WHERE status <> 'RESOLVED'")
    return sorted((r["rule"], r["kind"], r["decisive_event_id"]) for r in rows)
