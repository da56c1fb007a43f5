"""National findings back in the provinces (DESIGN.md §6, issue 24), the SQL side.

The national job's database: which flags a daily run changed (new, refreshed, resolved, reviewed), each
with its return chain, and the provinces each concerns (`changed_findings`). A province's database:
those findings merged into its flags as origin NATIONAL (`import_findings`), by the pure rules of
`decide`: a flag the province's own run holds stays the province's, a review the province made is never
overwritten, and an older national state never replaces a newer one.

A finding travels as a `NationalFinding`: the flag's columns, lists and the chain as JSON text (the
lake's Parquet stores them as strings), times as aware UTC datetimes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from reconciler.store.locks import lock_buyer_shards, lock_shards
from reconciler.store.runs import RunInfo, Status, get_run

# Executors stamp flags with their own clock, the run its start with the database's: a window this much
# wider on each side misses no flag of the run (a flag of a neighbouring run exported too is harmless:
# importing is idempotent and never rolls a flag back).
CLOCK_MARGIN = timedelta(minutes=2)


def province_of(region: str) -> str | None:
    """A region's province: its first two digits (README, "B, places"); None when unknown."""
    return region[:2] if len(region) >= 2 and region[:2].isdigit() else None


@dataclass(frozen=True, slots=True)
class NationalFinding:
    """One flag of the national database as it travels to a province (with its chain, if any)."""

    flag_id: str
    rule: str
    kind: str
    severity: str
    code: str
    decisive_event_id: str
    decisive_at: datetime
    subject_party: str
    subject_region: str
    related_parties: str  # JSON list
    evidence: str  # JSON list
    money_fen: int
    detail: str
    content_hash: str  # hex
    buyer_token: str | None
    status: str  # OPEN, CONFIRMED, DISMISSED, RESOLVED (the national one)
    detected_at: datetime
    detected_run: int  # the national run that first found it
    updated_at: datetime  # national
    resolved_at: datetime | None
    resolved_reason: str | None
    reviewed_by: str | None  # the national review, for the record (a province reviews its own)
    reviewed_at: datetime | None
    review_note: str | None
    national_run: int  # the run whose changes were exported
    chain: str | None  # JSON object: the return chain's columns

    def parties(self) -> set[str]:
        """Everyone the finding names: its subject, related parties and its chain's parties."""
        out = {self.subject_party, *json.loads(self.related_parties)}
        if self.chain:
            c = json.loads(self.chain)
            out.update(c["original_sellers"])
            out.update(c["resale_parties"])
            out.update(p for p in (c["reentry_party"], c["reentry_supplier"]) if p)
        out.discard("")
        return out


FIELDS = tuple(NationalFinding.__dataclass_fields__)
TIME_FIELDS = ("decisive_at", "detected_at", "updated_at", "resolved_at", "reviewed_at")


def provinces_of(finding: NationalFinding, regions: Mapping[str, str]) -> set[str]:
    """The provinces a finding concerns: those of the parties it names, as the registry places them."""
    return {p for party in finding.parties() if (p := province_of(regions.get(party, ""))) is not None}


# -- the national side: what a daily run changed ------------------------------------------------------


async def daily_run(conn: asyncpg.Connection, day: date, run_id: int | None) -> RunInfo:
    """The run whose findings go out: `run_id`, else the last DONE daily Spark run of the day."""
    if run_id is None:
        run_id = await conn.fetchval(
            """SELECT max(run_id) FROM reconcile_runs
               WHERE status = 'DONE' AND engine = 'SPARK' AND rule_params ->> 'day' = $1""",
            day.isoformat(),
        )
        if run_id is None:
            raise LookupError(f"no finished daily Spark run of {day.isoformat()} in this database")
    run = await get_run(conn, run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    if run.status is not Status.DONE or run.finished_at is None:
        raise LookupError(f"run {run_id} is {run.status.value}: only a finished run's findings go out")
    if run.rule_params.get("day") != day.isoformat():
        raise LookupError(f"run {run_id} is not the daily run of {day.isoformat()}")
    return run


_CHANGED = """
SELECT f.flag_id, f.rule, f.kind, f.severity, f.code, f.decisive_event_id, f.decisive_at, f.subject_party,
       f.subject_region, to_json(f.related_parties)::text AS related_parties, to_json(f.evidence)::text AS evidence,
       f.money_fen, f.detail, encode(f.content_hash, 'hex') AS content_hash, f.buyer_token, f.status,
       f.detected_at, f.detected_run, f.updated_at, f.resolved_at, f.resolved_reason, f.reviewed_by, f.reviewed_at,
       f.review_note,
       CASE WHEN c.flag_id IS NULL THEN NULL ELSE json_build_object(
           'code', c.code, 'active', c.active, 'originals', c.originals, 'reentry', c.reentry,
           'resales', c.resales, 'buyer_tokens', c.buyer_tokens, 'original_sellers', c.original_sellers,
           'reentry_party', c.reentry_party, 'reentry_supplier', c.reentry_supplier,
           'resale_parties', c.resale_parties, 'money_fen', c.money_fen)::text END AS chain
FROM flags f LEFT JOIN return_chains c USING (flag_id)
WHERE f.origin = 'LOCAL'
  AND (f.updated_at BETWEEN $1 AND $2 OR c.updated_at BETWEEN $1 AND $2)
ORDER BY f.flag_id
"""


async def changed_findings(conn: asyncpg.Connection, day: date, run: RunInfo) -> list[NationalFinding]:
    """Every flag the day's runs changed, up to `run`'s end: from the start of the day's first run (an
    earlier attempt's changes included) to this run's finish, widened by CLOCK_MARGIN."""
    first = await conn.fetchval(
        "SELECT min(started_at) FROM reconcile_runs WHERE rule_params ->> 'day' = $1 AND run_id <= $2",
        day.isoformat(),
        run.run_id,
    )
    assert run.finished_at is not None
    rows = await conn.fetch(_CHANGED, (first or run.started_at) - CLOCK_MARGIN, run.finished_at + CLOCK_MARGIN)
    return [NationalFinding(**dict(r), national_run=run.run_id) for r in rows]


async def regions_of(conn: asyncpg.Connection, party_ids: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT party_id, region FROM parties WHERE party_id = ANY($1::text[])", list(party_ids))
    return {r["party_id"]: r["region"] for r in rows}


def by_province(findings: Sequence[NationalFinding], regions: Mapping[str, str]) -> tuple[dict[str, list], int]:
    """Each province's findings (a finding goes to every province it concerns), and how many concern
    no known province (every party it names unknown to the registry, or without a region)."""
    out: dict[str, list[NationalFinding]] = {}
    unplaced = 0
    for f in findings:
        provinces = provinces_of(f, regions)
        if not provinces:
            unplaced += 1
        for p in sorted(provinces):
            out.setdefault(p, []).append(f)
    return out, unplaced


# -- the province side: merging -----------------------------------------------------------------------


class Local(NamedTuple):
    """What a province's database holds of a flag the national run sends."""

    origin: str
    status: str
    national_updated_at: datetime | None


class Decision(enum.Enum):
    NEW = "new"  # unknown here: inserted as NATIONAL (RESOLVED if the nation resolved it)
    REFRESH = "refreshed"  # a NATIONAL flag whose national state is newer: content (and OPEN/RESOLVED) follow it
    RESOLVE = "resolved"  # … and the nation resolved it: OPEN here becomes RESOLVED
    LOCAL = "already local"  # this province's own run holds it: left alone
    REOPEN = "reopened"  # this province's run resolved it (lacking the other provinces' events), the nation
    # still finds it: it becomes NATIONAL and stands again — the province's inspectors see what the nation sees
    UNCHANGED = "unchanged"  # imported already at this national state, or a newer one


REVIEWED = ("CONFIRMED", "DISMISSED")  # a province's review: the import never overwrites it


def decide(local: Local | None, incoming_status: str, incoming_updated_at: datetime) -> Decision:
    """Pure: what importing one national finding does to the province's flag."""
    if local is None:
        return Decision.NEW
    newer = local.national_updated_at is None or local.national_updated_at < incoming_updated_at
    if local.origin != "NATIONAL":
        if local.status == "RESOLVED" and incoming_status != "RESOLVED" and newer:
            return Decision.REOPEN
        return Decision.LOCAL
    if not newer:
        return Decision.UNCHANGED
    if incoming_status == "RESOLVED" and local.status == "OPEN":
        return Decision.RESOLVE
    return Decision.REFRESH


def local_status(local: Local | None, incoming_status: str) -> str:
    """The province's status after the import: a province's review stays; otherwise the national
    reconciler's verdict (RESOLVED, or standing — OPEN, whatever a national reviewer decided)."""
    if local is not None and local.status in REVIEWED:
        return local.status
    return "RESOLVED" if incoming_status == "RESOLVED" else "OPEN"


class ImportCounts(NamedTuple):
    new: int
    refreshed: int
    resolved: int
    already_local: int
    unchanged: int
    reopened: int = 0

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.refreshed} refreshed, {self.resolved} resolved, "
            f"{self.already_local} already local, {self.unchanged} unchanged, {self.reopened} reopened"
        )


_UPSERT = """
INSERT INTO flags AS f (flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party,
                   subject_region, related_parties, evidence, money_fen, detail, content_hash, buyer_token, status,
                   detected_at, detected_run, updated_at, resolved_at, resolved_reason, origin,
                   national_updated_at, national_run)
SELECT u.flag_id, u.rule, u.kind, u.severity, u.code, u.decisive_event_id, u.decisive_at, u.subject_party,
       u.subject_region, ARRAY(SELECT json_array_elements_text(u.related::json)),
       ARRAY(SELECT json_array_elements_text(u.evidence::json)), u.money_fen, u.detail, decode(u.content_hash, 'hex'),
       u.buyer_token, u.status, u.detected_at, 0, $21, u.resolved_at, u.resolved_reason, 'NATIONAL',
       u.national_updated_at, u.national_run
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[],
            $16::text[], $17::timestamptz[], $18::timestamptz[], $19::text[], $20::timestamptz[], $22::bigint[])
     AS u(flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region,
          related, evidence, money_fen, detail, content_hash, buyer_token, status, detected_at, resolved_at,
          resolved_reason, national_updated_at, national_run)
ON CONFLICT (flag_id) DO UPDATE SET severity = excluded.severity, decisive_at = excluded.decisive_at,
    subject_party = excluded.subject_party, subject_region = excluded.subject_region,
    related_parties = excluded.related_parties, evidence = excluded.evidence, money_fen = excluded.money_fen,
    detail = excluded.detail, content_hash = excluded.content_hash, buyer_token = excluded.buyer_token,
    status = excluded.status, updated_at = excluded.updated_at,
    resolved_at = CASE WHEN excluded.status = 'RESOLVED' THEN excluded.resolved_at
                       WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_at END,
    resolved_reason = CASE WHEN excluded.status = 'RESOLVED' THEN excluded.resolved_reason
                           WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_reason END,
    national_updated_at = excluded.national_updated_at, national_run = excluded.national_run, origin = 'NATIONAL'
WHERE f.origin = 'NATIONAL' OR f.status = 'RESOLVED'
"""

_SEEN = """
UPDATE flags f SET national_updated_at = greatest(f.national_updated_at, u.seen)
FROM unnest($1::text[], $2::timestamptz[]) AS u(flag_id, seen)
WHERE f.flag_id = u.flag_id AND f.origin = 'LOCAL'
"""

_UPSERT_CHAINS = """
INSERT INTO return_chains (flag_id, code, active, originals, reentry, resales, buyer_tokens, original_sellers,
                           reentry_party, reentry_supplier, resale_parties, money_fen, updated_at)
SELECT u.flag_id, c ->> 'code', (c ->> 'active')::bool, c -> 'originals', nullif(c -> 'reentry', 'null'::jsonb),
       c -> 'resales', ARRAY(SELECT jsonb_array_elements_text(c -> 'buyer_tokens')),
       ARRAY(SELECT jsonb_array_elements_text(c -> 'original_sellers')), c ->> 'reentry_party',
       c ->> 'reentry_supplier', ARRAY(SELECT jsonb_array_elements_text(c -> 'resale_parties')),
       (c ->> 'money_fen')::bigint, $3
FROM unnest($1::text[], $2::jsonb[]) AS u(flag_id, c)
ON CONFLICT (flag_id) DO UPDATE SET active = excluded.active, originals = excluded.originals,
    reentry = excluded.reentry, resales = excluded.resales, buyer_tokens = excluded.buyer_tokens,
    original_sellers = excluded.original_sellers, reentry_party = excluded.reentry_party,
    reentry_supplier = excluded.reentry_supplier, resale_parties = excluded.resale_parties,
    money_fen = excluded.money_fen, updated_at = excluded.updated_at
"""


def _reason(f: NationalFinding) -> str | None:
    return f"national {f.resolved_reason}" if f.resolved_reason else "national run: resolved"


async def import_findings(conn: asyncpg.Connection, findings: Sequence[NationalFinding], now: datetime) -> ImportCounts:
    """Merge a province's national findings into its flags, in the caller's transaction, under the same
    shard locks as the province's own runs (a run and an import never interleave on a flag)."""
    await lock_shards(conn, [f.code for f in findings if f.rule not in ("S", "B")])
    await lock_shards(conn, [f.decisive_event_id for f in findings if f.rule == "S"], sales=True)
    await lock_buyer_shards(conn, [f.buyer_token for f in findings if f.rule == "B" and f.buyer_token])
    rows = await conn.fetch(
        "SELECT flag_id, origin, status, national_updated_at FROM flags WHERE flag_id = ANY($1::text[])",
        [f.flag_id for f in findings],
    )
    have = {r["flag_id"]: Local(r["origin"], r["status"], r["national_updated_at"]) for r in rows}
    latest: dict[str, NationalFinding] = {}
    for f in findings:  # one flag twice (two exports read together): its newest state
        if f.flag_id not in latest or latest[f.flag_id].updated_at < f.updated_at:
            latest[f.flag_id] = f
    counts = dict.fromkeys(Decision, 0)
    writes: list[tuple[NationalFinding, str]] = []
    seen: list[NationalFinding] = []  # LOCAL flags the nation also sends
    for f in latest.values():
        local = have.get(f.flag_id)
        decision = decide(local, f.status, f.updated_at)
        counts[decision] += 1
        if decision in (Decision.NEW, Decision.REFRESH, Decision.RESOLVE, Decision.REOPEN):
            writes.append((f, local_status(local, f.status)))
        elif decision is Decision.LOCAL:
            seen.append(f)
    if seen:  # a LOCAL flag remembers the newest national state seen: an older day imported later cannot reopen it
        await conn.execute(_SEEN, [f.flag_id for f in seen], [f.updated_at for f in seen])
    if writes:
        cols: list[list[Any]] = [[] for _ in range(20)]
        for f, status in writes:
            resolved = status == "RESOLVED"
            values = [
                f.flag_id,
                f.rule,
                f.kind,
                f.severity,
                f.code,
                f.decisive_event_id,
                f.decisive_at,
                f.subject_party,
                f.subject_region,
                f.related_parties,
                f.evidence,
                f.money_fen,
                f.detail,
                f.content_hash,
                f.buyer_token,
                status,
                f.detected_at,
                (f.resolved_at or now) if resolved else None,
                _reason(f) if resolved else None,
                f.updated_at,
            ]
            for col, v in zip(cols, values, strict=True):
                col.append(v)
        await conn.execute(_UPSERT, *cols, now, [f.national_run for f, _ in writes])
        chained = [(f.flag_id, f.chain) for f, _ in writes if f.chain]
        if chained:
            await conn.execute(_UPSERT_CHAINS, [c[0] for c in chained], [c[1] for c in chained], now)
    return ImportCounts(
        counts[Decision.NEW],
        counts[Decision.REFRESH],
        counts[Decision.RESOLVE],
        counts[Decision.LOCAL],
        counts[Decision.UNCHANGED],
        counts[Decision.REOPEN],
    )
