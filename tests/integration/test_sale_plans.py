"""The sale path's statements probe indexes on a realistic table, whatever plan PostgreSQL caches.

Issue "POS sale at the database's speed": the sale-key look-up, written as a join, was planned as a
hash join over a scan of every stored sale once a batch named many keys (60 ms a batch at 40 k sales,
~180x the cost of storing the rows). These tests EXPLAIN each sale-path statement, with a batch's worth
of keys, on a seeded table under both the custom and the generic plan, and fail on a scan.
"""

from __future__ import annotations

import json

import pytest

from tracesvc.store import events as store

pytestmark = pytest.mark.asyncio

# Statistics taken before the sales arrived (as on a fresh province, or when the last ANALYZE saw
# only receipts): the planner then believes there is at most one SALE row, which is what made it
# read every stored sale once per batch. The sales come after the ANALYZE, and autovacuum is kept off
# so that it cannot correct the statistics mid-test.
_SEED = """
ALTER TABLE events SET (autovacuum_enabled = false);
INSERT INTO events (event_id, kind, party_id, occurred_at, content_hash, payload)
SELECT 'ev-r' || g, 'RECEIPT', 'P' || (g % 8), now() - make_interval(secs => g), '\\x00', '{}'::jsonb
FROM generate_series(1, 30000) g;
INSERT INTO code_state (code, holders) SELECT 'C' || g, ARRAY['P' || (g % 8)] FROM generate_series(1, 60000) g;
ANALYZE events;
ANALYZE code_state;
INSERT INTO events (event_id, kind, party_id, occurred_at, sale_id, content_hash, payload)
SELECT 'ev-s' || g, 'SALE', 'P' || (g % 8), now() - make_interval(secs => g), 's-' || g, '\\x00', '{}'::jsonb
FROM generate_series(1, 30000) g;
"""

_KEYS = 200  # a stream's commit group


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


async def _explain(conn, sql: str, types: str, args: list, mode: str) -> list[dict]:
    await conn.execute(f"SET plan_cache_mode = {mode}")
    await conn.execute(f"PREPARE q({types}) AS {sql}")
    try:
        # EXECUTE takes no bind parameters: the arrays as literals (our own values, no quotes in them).
        params = ", ".join("'{" + ",".join(a) + "}'" for a in args)
        rows = await conn.fetch(f"EXPLAIN (FORMAT JSON) EXECUTE q({params})")
    finally:
        await conn.execute("DEALLOCATE q")
        await conn.execute("RESET plan_cache_mode")
    return list(_nodes(json.loads(rows[0][0])[0]["Plan"]))


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_sale_key_look_up_probes_the_unique_index(raw_db, mode):
    await raw_db.execute(_SEED)
    ids = [f"ev-new-{i}" for i in range(_KEYS)]
    parties = [f"P{i % 8}" for i in range(_KEYS)]
    sale_ids = [f"s-new-{i}" for i in range(_KEYS)]
    nodes = await _explain(
        raw_db, store._SELECT_IDS_AND_SALES, "text[], text[], text[]", [ids, parties, sale_ids], mode
    )
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
    assert {n["Index Name"] for n in nodes if "Index Name" in n} == {"events_event_id_key", "uq_events_sale"}, nodes
    # One probe per key (a nested loop over the keys), not a join that reads the stored sales in bulk.
    assert not [n for n in nodes if n["Node Type"] in ("Hash Join", "Merge Join") or "Join Filter" in n], nodes
    probes = [n for n in nodes if n.get("Index Name") == "uq_events_sale"]
    assert probes and all("Index Cond" in n for n in probes), probes


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_code_state_lock_probes_the_primary_key(raw_db, mode):
    await raw_db.execute(_SEED)
    codes = sorted(f"C{i * 7}" for i in range(1, _KEYS + 1))
    nodes = await _explain(raw_db, store._LOCK_STATES, "text[]", [codes], mode)
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
    assert {n["Index Name"] for n in nodes if "Index Name" in n} == {"code_state_pkey"}, nodes
