"""Set-based loading of many codes' events, and writing findings as flags and chains.

Everything a batch touches is keyed by code (or, for rule S, by sale event), and a batch
holds advisory locks on the shards of those keys only: two runs never work on the same
codes at once, and nothing takes a global lock.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from reconciler.rules.model import ChainSale, CodeEvent, Finding, Reference, ReturnChain
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import Party
from tracesvc.store.registry import load_parties, load_products

SHARDS = 1024
_LOCK_CODES, _LOCK_SALES = 74311, 74312  # advisory-lock namespaces


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % SHARDS


async def lock_shards(conn: asyncpg.Connection, keys: Iterable[str], *, sales: bool = False) -> None:
    """Transaction-scoped locks on the shards of `keys`, taken in one order so runs cannot deadlock."""
    shards = sorted({shard_of(k) for k in keys})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, s) FROM (SELECT unnest($2::int[]) AS s ORDER BY 1) q",
        _LOCK_SALES if sales else _LOCK_CODES, shards)


# -- loading ------------------------------------------------------------------------------------

async def load_reference(engine) -> Reference:
    async with engine.connect() as conn:
        parties = await load_parties(conn)
        products = {p.prefix: p for p, _ in await load_products(conn)}
        listed = frozenset((await conn.exec_driver_sql("SELECT prefix FROM commissioned_products")).scalars())
    return Reference(parties, products, listed_products=listed)


_CODE_EVENTS = """
SELECT ec.code, ec.units, ec.line_no, e.event_seq, e.event_id, e.kind, e.party_id, e.occurred_at,
       e.counterparty_id, coalesce(e.sale_id, '') AS sale_id, coalesce(e.buyer_token, '') AS buyer_token,
       CASE WHEN e.kind = 'SALE' THEN (e.payload -> 'lines' -> ec.line_no)::text END AS line
FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
WHERE ec.code = ANY($1::text[]) AND ec.is_trace
"""


async def load_code_events(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, list[CodeEvent]]:
    """Every event of each code, one CodeEvent per (code, event) with a sale's lines summed."""
    return code_events_from_rows(await conn.fetch(_CODE_EVENTS, list(codes)))


def code_events_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[CodeEvent]]:
    """Rows of `_CODE_EVENTS` (from asyncpg, or Arrow in the Spark engine) as CodeEvents per code."""
    merged: dict[tuple[str, int], dict] = {}
    for r in rows:
        key = (r["code"], r["event_seq"])
        share = 0
        if r["line"] is not None:  # the code's share of the line's fund paid, by scans
            line = json.loads(r["line"])
            scans = line[6]
            mine = sum(1 for s in scans if s[0] == r["code"])
            share = line[5] * mine // max(1, len(scans))
        m = merged.get(key)
        if m is None:
            merged[key] = {"row": r, "units": r["units"], "fund": share}
        else:
            m["units"] = None if m["units"] is None or r["units"] is None else m["units"] + r["units"]
            m["fund"] += share
    out: dict[str, list[CodeEvent]] = defaultdict(list)
    for (code, _), m in merged.items():
        r = m["row"]
        out[code].append(CodeEvent(
            r["event_id"], EventKind(r["kind"]), r["party_id"], r["occurred_at"], r["counterparty_id"],
            m["units"], r["sale_id"], r["buyer_token"], m["fund"],
        ))
    return out


async def load_sales(conn: asyncpg.Connection, scope: str, args: Sequence, after_seq: int,
                     limit: int) -> list[tuple[int, Event]]:
    """The next SALE events in storage order within `scope` (SQL over events, with $-params `args`)."""
    n = len(args)
    rows = await conn.fetch(
        f"""SELECT event_seq, payload::text AS payload FROM events
            WHERE kind = 'SALE' AND {scope} AND event_seq > ${n + 1} ORDER BY event_seq LIMIT ${n + 2}""",
        *args, after_seq, limit)
    return [(r["event_seq"], Event.from_json(json.loads(r["payload"]))) for r in rows]


async def commissioned_among(conn: asyncpg.Connection, codes: Iterable[str]) -> frozenset[str]:
    rows = await conn.fetch("SELECT code FROM commissioned_codes WHERE code = ANY($1::text[])", list(set(codes)))
    return frozenset(r["code"] for r in rows)


# -- writing flags and chains -------------------------------------------------------------------

def flag_id(identity: tuple[str, str, str, str]) -> str:
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:32]


def _content_hash(f: Finding) -> bytes:
    content = [f.severity.value, f.subject_party, list(f.related_parties), list(f.evidence), f.money_fen,
               f.detail, f.decisive_at.isoformat()]
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
       updated_at = $10,
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
WHERE f.flag_id = u.flag_id AND f.status = 'OPEN'
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


def _sale_json(s: ChainSale) -> dict:
    return {"event_id": s.event_id, "party_id": s.party_id, "occurred_at": s.occurred_at.isoformat(),
            "buyer_token": s.buyer_token, "fund_paid_fen": s.fund_paid_fen, "units": s.units}


async def sync_flags(
    conn: asyncpg.Connection,
    existing: Sequence[asyncpg.Record],
    findings: Sequence[Finding],
    chains: Sequence[ReturnChain],
    *,
    run_id: int,
    now: datetime,
    parties: dict[str, Party],
) -> tuple[int, int]:
    """Make the flags of a scope match its findings; return (new, resolved).

    New findings become OPEN flags; a finding seen again refreshes its evidence (and
    reopens it only if the reconciler had resolved it); a reviewed flag keeps its review.
    An OPEN flag no longer found is RESOLVED with the reason, never deleted.
    """
    desired = {flag_id(f.identity): f for f in findings}
    have = {r["flag_id"]: r for r in existing}
    new = [(fid, f) for fid, f in desired.items() if fid not in have]
    changed = [(fid, f) for fid, f in desired.items()
               if fid in have and (have[fid]["content_hash"] != _content_hash(f) or have[fid]["status"] == "RESOLVED")]
    gone = [fid for fid, r in have.items() if fid not in desired and r["status"] != "RESOLVED"]

    def region(f: Finding) -> str:
        p = parties.get(f.subject_party)
        return p.region if p else ""

    if new:
        fs = [f for _, f in new]
        await conn.execute(
            _INSERT_FLAGS, [fid for fid, _ in new], [f.rule.value for f in fs], [f.kind for f in fs],
            [f.severity.value for f in fs], [f.code for f in fs], [f.decisive_event_id for f in fs],
            [f.decisive_at for f in fs], [f.subject_party for f in fs], [region(f) for f in fs],
            [_joined(f.related_parties) or "" for f in fs], [_joined(f.evidence) or "" for f in fs],
            [f.money_fen for f in fs], [f.detail for f in fs], [_content_hash(f) for f in fs], now, run_id)
    if changed:
        fs = [f for _, f in changed]
        await conn.execute(
            _REFRESH_FLAGS, [fid for fid, _ in changed], [f.severity.value for f in fs],
            [f.subject_party for f in fs], [region(f) for f in fs], [_joined(f.related_parties) or "" for f in fs],
            [_joined(f.evidence) or "" for f in fs], [f.money_fen for f in fs], [f.detail for f in fs],
            [_content_hash(f) for f in fs], now, [f.decisive_at for f in fs])
    resolved = 0
    if gone:
        successor = {(f.rule.value, f.decisive_event_id, f.code): f.kind for f in findings}
        reasons = []
        for fid in gone:
            r = have[fid]
            nxt = successor.get((r["rule"], r["decisive_event_id"], r["code"]))
            reasons.append(f"run {run_id}: later evidence changed the finding to {nxt}" if nxt else
                           f"run {run_id}: the finding no longer holds on the events now known")
        status = await conn.execute(_RESOLVE_FLAGS, gone, reasons, now)
        resolved = int(status.split()[-1])
        await conn.execute("UPDATE return_chains SET active = false, updated_at = $2 WHERE flag_id = ANY($1)",
                           gone, now)
    if chains:
        await _upsert_chains(conn, chains, now)
    return len(new), resolved


async def _upsert_chains(conn: asyncpg.Connection, chains: Sequence[ReturnChain], now: datetime) -> None:
    cols: list[list] = [[] for _ in range(12)]
    for c in chains:
        entry = c.reentry
        values = [
            flag_id(c.flag_identity), c.code, json.dumps([_sale_json(s) for s in c.originals]),
            json.dumps({"event_id": entry.event_id, "kind": entry.kind.value, "party_id": entry.party_id,
                        "supplier_id": entry.supplier_id, "occurred_at": entry.occurred_at.isoformat()})
            if entry else None,
            json.dumps([_sale_json(s) for s in c.resales]),
            _joined(sorted({s.buyer_token for s in c.originals if s.buyer_token})) or "",
            _joined(sorted({s.party_id for s in c.originals})) or "",
            entry.party_id if entry else None, (entry.supplier_id or None) if entry else None,
            _joined(sorted({s.party_id for s in c.resales})) or "",
            sum(s.fund_paid_fen for s in c.originals), True,
        ]
        for col, v in zip(cols, values, strict=True):
            col.append(v)
    await conn.execute(_UPSERT_CHAINS, *cols, now)
