"""The same events in shuffled orders, split across incremental runs, give exactly the flags of one full run."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.jobs import Mode
from tests import builders as b
from tests.reconcile_helpers import live_flags, run
from tests.stories import dataset
from tracesvc import client


async def _reset(raw_db) -> None:
    await raw_db.execute("TRUNCATE events, event_codes, flags, return_chains, reconcile_runs")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False), chunks=st.integers(1, 5))
async def test_incremental_in_any_order_equals_one_full_run(service, raw_db, seed, shuffle, chunks):
    await _reset(raw_db)
    await b.seed_registry(service.registry)
    events = dataset(seed)
    shuffle.shuffle(events)
    cut = sorted(shuffle.sample(range(1, len(events)), chunks - 1))
    for part in (events[i:j] for i, j in zip([0, *cut], [*cut, len(events)], strict=True)):
        acks = await client.stream_events(service.channel, part)
        assert all(a.status in (1, 2) for a in acks), [a.error.message for a in acks if a.status > 2]
        await run(service.engine, Mode.INCREMENTAL, code_batch=7, sale_batch=5)
    incremental = await live_flags(raw_db)
    assert incremental  # the stories do contain fraud

    # a full run on top finds nothing new and resolves nothing
    full = await run(service.engine, Mode.FULL)
    assert (full.flags_new, full.flags_resolved) == (0, 0)
    # and a full run from scratch gives exactly the same flags
    await raw_db.execute("TRUNCATE flags, return_chains, reconcile_runs")
    await run(service.engine, Mode.FULL)
    assert await live_flags(raw_db) == incremental


async def test_arrival_order_does_not_change_the_flags(service, raw_db):
    results = []
    for order_seed in (1, 2, 3):
        await _reset(raw_db)
        await b.seed_registry(service.registry)
        events = dataset(42)
        random.Random(order_seed).shuffle(events)
        await client.stream_events(service.channel, events)
        await run(service.engine)
        results.append(await live_flags(raw_db))
    assert results[0] == results[1] == results[2]
    rules = {f[0] for f in results[0]}
    assert {"D", "L", "R"} <= rules
