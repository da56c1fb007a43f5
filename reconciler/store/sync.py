"""Writing findings: a batch's flags made to match its findings, and its return chains stored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from reconciler.rules.model import BuyerFinding, Finding, Judged, ReturnChain
from reconciler.store.locks import lock_buyer_shards, lock_shards
from reconciler.store.runs import Phase
from tracesvc.domain.registry import Party
from tracesvc.store.findings import chain_entry_json, chain_sale_json


def flag_id(identity: tuple[str, str, str, str]) -> str:
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:32]


def content_hash(f: Finding) -> bytes:
    content = [
        f.severity.value,
        f.subject_party,
        list(f.related_parties),
        list(f.evidence),
        f.money_fen,
        f.detail,
        f.decisive_at.isoformat(),
    ]
    return hashlib.sha256(json.dumps(content).encode()).digest()


_INSERT_FLAGS = """
INSERT INTO flags (flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party,
                   subject_region, related_parties, evidence, money_fen, detail, content_hash, status,
                   detected_at, detected_run, updated_at)
SELECT u.flag_id, u.rule, u.kind, u.severity, u.code, u.decisive_event_id, u.decisive_at, u.subject_party,
       u.subject_region, string_to_array(u.related, E'\\x1f'), string_to_array(u.evidence, E'\\x1f'),
       u.money_fen, u.detail, u.content_hash, 'OPEN', $15, $16, $15
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::bytea[])
     AS u(flag_id, rule, kind, severity, code, decisive_event_id, decisive_at, subject_party, subject_region,
          related, evidence, money_fen, detail, content_hash)
ON CONFLICT (flag_id) DO NOTHING
"""
_REFRESH_FLAGS = """
UPDATE flags f SET severity = u.severity, subject_party = u.subject_party, subject_region = u.subject_region,
       related_parties = string_to_array(u.related, E'\\x1f'), evidence = string_to_array(u.evidence, E'\\x1f'),
       money_fen = u.money_fen, detail = u.detail, decisive_at = u.decisive_at, content_hash = u.content_hash,
       updated_at = $10, origin = 'LOCAL',
       detected_run = CASE WHEN f.origin = 'LOCAL' THEN f.detected_run ELSE $12 END,
       status = CASE WHEN f.status = 'RESOLVED' THEN 'OPEN' ELSE f.status END,
       resolved_at = CASE WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_at END,
       resolved_reason = CASE WHEN f.status = 'RESOLVED' THEN NULL ELSE f.resolved_reason END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::bytea[], $11::timestamptz[])
     AS u(flag_id, severity, subject_party, subject_region, related, evidence, money_fen, detail, content_hash,
          decisive_at)
WHERE f.flag_id = u.flag_id
"""
_RESOLVE_FLAGS = """
UPDATE flags f SET status = 'RESOLVED', resolved_at = $3, updated_at = $3, resolved_reason = u.reason
FROM unnest($1::text[], $2::text[]) AS u(flag_id, reason)
WHERE f.flag_id = u.flag_id AND f.status = 'OPEN' AND f.origin = 'LOCAL'
"""
_UPSERT_CHAINS = """
INSERT INTO return_chains (flag_id, code, active, originals, reentry, resales, buyer_tokens, original_sellers,
                           reentry_party, reentry_supplier, resale_parties, money_fen, updated_at)
SELECT u.flag_id, u.code, true, u.originals::jsonb, u.reentry::jsonb, u.resales::jsonb,
       string_to_array(u.buyers, E'\\x1f'), string_to_array(u.sellers, E'\\x1f'), u.reentry_party,
       u.reentry_supplier, string_to_array(u.resellers, E'\\x1f'), u.money_fen, $13
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::bigint[], $12::bool[])
     AS u(flag_id, code, originals, reentry, resales, buyers, sellers, reentry_party, reentry_supplier,
          resellers, money_fen, unused)
ON CONFLICT (flag_id) DO UPDATE SET active = true, originals = excluded.originals, reentry = excluded.reentry,
    resales = excluded.resales, buyer_tokens = excluded.buyer_tokens,
    original_sellers = excluded.original_sellers, reentry_party = excluded.reentry_party,
    reentry_supplier = excluded.reentry_supplier, resale_parties = excluded.resale_parties,
    money_fen = excluded.money_fen, updated_at = excluded.updated_at
"""


def _joined(values: Iterable[str]) -> str | None:
    values = list(values)
    return "\x1f".join(values) if values else None


class SyncPlan(NamedTuple):
    """What making a scope's flags match its findings changes."""

    new: list[tuple[str, Finding]]  # (flag id, finding): insert OPEN
    changed: list[tuple[str, Finding]]  # refresh the evidence (reopen only what the reconciler resolved)
    gone: list[tuple[str, str]]  # (flag id, reason): resolve, if still OPEN


def plan_sync(existing: Sequence[ExistingFlag], findings: Sequence[Finding], run_id: int) -> SyncPlan:
    """Pure: compare a scope's stored flags with its findings. A finding seen again whose content is
    unchanged changes nothing; a flag no longer found is resolved (never deleted) with the reason —
    naming the kind that replaced it when the same decisive event now shows another kind.

    A NATIONAL flag (imported from the national run, which saw other provinces' events) is never
    resolved here: this database lacks the events that proved it. A finding of this database with
    its identity takes it over (refreshed, origin LOCAL): whoever proves it from its own data owns it."""
    desired = {flag_id(f.identity): f for f in findings}
    have = {r.flag_id: r for r in existing}
    new = [(fid, f) for fid, f in desired.items() if fid not in have]
    changed = [
        (fid, f)
        for fid, f in desired.items()
        if fid in have
        and (have[fid].content_hash != content_hash(f) or have[fid].status == "RESOLVED" or have[fid].origin != "LOCAL")
    ]
    successor = {(f.rule.value, f.decisive_event_id, f.code): f.kind for f in findings}
    gone = []
    for fid, r in have.items():
        if fid in desired or r.status == "RESOLVED" or r.origin != "LOCAL":
            continue
        nxt = successor.get((r.rule, r.decisive_event_id, r.code))
        reason = (
            f"run {run_id}: later evidence changed the finding to {nxt}"
            if nxt
            else f"run {run_id}: the finding no longer holds on the events now known"
        )
        gone.append((fid, reason))
    return SyncPlan(new, changed, gone)


async def sync_flags(
    conn: asyncpg.Connection,
    existing: Sequence[ExistingFlag],
    findings: Sequence[Finding],
    chains: Sequence[ReturnChain],
    *,
    run_id: int,
    now: datetime,
    parties: Mapping[str, Party],
) -> tuple[int, int]:
    """Make the flags of a scope match its findings; return (new, resolved).

    New findings become OPEN flags; a finding seen again refreshes its evidence (and
    reopens it only if the reconciler had resolved it); a reviewed flag keeps its review.
    An OPEN flag no longer found is RESOLVED with the reason, never deleted.
    """
    plan = plan_sync(existing, findings, run_id)
    new, changed = plan.new, plan.changed

    def region(f: Finding) -> str:
        p = parties.get(f.subject_party)
        return p.region if p else ""

    if new:
        fs = [f for _, f in new]
        await conn.execute(
            _INSERT_FLAGS,
            [fid for fid, _ in new],
            [f.rule.value for f in fs],
            [f.kind for f in fs],
            [f.severity.value for f in fs],
            [f.code for f in fs],
            [f.decisive_event_id for f in fs],
            [f.decisive_at for f in fs],
            [f.subject_party for f in fs],
            [region(f) for f in fs],
            [_joined(f.related_parties) or "" for f in fs],
            [_joined(f.evidence) or "" for f in fs],
            [f.money_fen for f in fs],
            [f.detail for f in fs],
            [content_hash(f) for f in fs],
            now,
            run_id,
        )
    if changed:
        fs = [f for _, f in changed]
        await conn.execute(
            _REFRESH_FLAGS,
            [fid for fid, _ in changed],
            [f.severity.value for f in fs],
            [f.subject_party for f in fs],
            [region(f) for f in fs],
            [_joined(f.related_parties) or "" for f in fs],
            [_joined(f.evidence) or "" for f in fs],
            [f.money_fen for f in fs],
            [f.detail for f in fs],
            [content_hash(f) for f in fs],
            now,
            [f.decisive_at for f in fs],
            run_id,
        )
    resolved = 0
    if plan.gone:
        gone = [fid for fid, _ in plan.gone]
        status = await conn.execute(_RESOLVE_FLAGS, gone, [reason for _, reason in plan.gone], now)
        resolved = int(status.split()[-1])
        await conn.execute(
            "UPDATE return_chains SET active = false, updated_at = $2 WHERE flag_id = ANY($1)", gone, now
        )
    if chains:
        await _upsert_chains(conn, chains, now)
    return len(new), resolved


async def _upsert_chains(conn: asyncpg.Connection, chains: Sequence[ReturnChain], now: datetime) -> None:
    cols: list[list[Any]] = [[] for _ in range(12)]
    for c in chains:
        entry = c.reentry
        values = [
            flag_id(c.flag_identity),
            c.code,
            json.dumps([chain_sale_json(s) for s in c.originals]),
            json.dumps(chain_entry_json(entry)) if entry else None,
            json.dumps([chain_sale_json(s) for s in c.resales]),
            _joined(sorted({s.buyer_token for s in c.originals if s.buyer_token})) or "",
            _joined(sorted({s.party_id for s in c.originals})) or "",
            entry.party_id if entry else None,
            (entry.supplier_id or None) if entry else None,
            _joined(sorted({s.party_id for s in c.resales})) or "",
            sum(s.fund_paid_fen for s in c.originals),
            True,
        ]
        for col, v in zip(cols, values, strict=True):
            col.append(v)
    await conn.execute(_UPSERT_CHAINS, *cols, now)


class ExistingFlag(NamedTuple):
    """What sync_flags compares a scope's findings against."""

    flag_id: str
    status: str
    content_hash: bytes
    rule: str
    decisive_event_id: str
    code: str
    origin: str = "LOCAL"  # NATIONAL: imported from the national run (`reconciler import-findings`)


_EXISTING = "SELECT flag_id, status, content_hash, rule, decisive_event_id, code, origin FROM flags WHERE "


async def flags_of_codes(conn: asyncpg.Connection, codes: Sequence[str]) -> list[ExistingFlag]:
    """The per-code flags (D, L, R) of these codes (S and B flags carry an insurance code there)."""
    rows = await conn.fetch(_EXISTING + "code = ANY($1::text[]) AND rule NOT IN ('S', 'B')", list(codes))
    return [ExistingFlag(*r) for r in rows]


async def flags_of_buyers(conn: asyncpg.Connection, tokens: Sequence[str]) -> list[ExistingFlag]:
    """The B flags of these buyer tokens."""
    rows = await conn.fetch(_EXISTING + "rule = 'B' AND buyer_token = ANY($1::text[])", list(tokens))
    return [ExistingFlag(*r) for r in rows]


async def flags_of_sales(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[ExistingFlag]:
    """The S flags decided by these sale events."""
    rows = await conn.fetch(_EXISTING + "decisive_event_id = ANY($1::text[]) AND rule = 'S'", list(event_ids))
    return [ExistingFlag(*r) for r in rows]


_TAG_BUYERS = """
UPDATE flags f SET buyer_token = u.token
FROM unnest($1::text[], $2::text[]) AS u(flag_id, token)
WHERE f.flag_id = u.flag_id AND f.buyer_token IS DISTINCT FROM u.token
"""


async def sync_buyer_flags(
    conn: asyncpg.Connection,
    tokens: Sequence[str],
    found: Sequence[BuyerFinding],
    *,
    run_id: int,
    now: datetime,
    parties: Mapping[str, Party],
) -> tuple[int, int]:
    """Make the B flags of these tokens match their findings; return (new, resolved). The same review
    rules as every flag (sync_flags); each flag also carries its buyer's token."""
    existing = await flags_of_buyers(conn, tokens)
    new, resolved = await sync_flags(
        conn, existing, [b.finding for b in found], [], run_id=run_id, now=now, parties=parties
    )
    if found:
        await conn.execute(_TAG_BUYERS, [flag_id(b.finding.identity) for b in found], [b.token for b in found])
    return new, resolved


async def sync_batch(
    conn: asyncpg.Connection,
    phase: Phase,
    keys: Sequence[str],
    judged: Judged | Sequence[BuyerFinding],
    *,
    run_id: int,
    now: datetime,
    parties: Mapping[str, Party],
) -> tuple[int, int]:
    """In the caller's transaction: lock the batch's shards, read its flags, make them match what was
    judged; (new, resolved). Both engines write a batch through here."""
    if phase is Phase.BUYERS:
        assert not isinstance(judged, Judged)
        await lock_buyer_shards(conn, keys)
        return await sync_buyer_flags(conn, keys, judged, run_id=run_id, now=now, parties=parties)
    assert isinstance(judged, Judged)
    if phase is Phase.CODES:
        await lock_shards(conn, keys)
        existing = await flags_of_codes(conn, keys)
    else:
        await lock_shards(conn, keys, sales=True)
        existing = await flags_of_sales(conn, keys)
    return await sync_flags(conn, existing, judged.findings, judged.chains, run_id=run_id, now=now, parties=parties)
