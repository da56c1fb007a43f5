"""Rule B in reconciliation runs: shuffled arrival over incremental runs equals one full run, flags carry the
buyer token (never the number) and ListFlags finds them by it, and each run records its B parameters."""

from __future__ import annotations

import random

from reconciler.jobs import Mode
from tests import builders as b
from tests.reconcile_helpers import live_flags, run
from tracesvc import client
from tracesvc.domain import privacy
from tracesvc.v1 import enforcement_pb2 as enf
from tracesvc.v1 import enforcement_pb2_grpc, reconcile_pb2_grpc
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import reconcile_pb2 as rec
from tracesvc.v1 import registry_pb2 as reg

DAY = 24 * 60  # minutes
KEY = bytes.fromhex("5e" * 32)  # the test config's HMAC key


async def _seed(service) -> None:
    await b.seed_registry(service.registry)
    extra = [
        reg.Party(party_id="P3", kind=reg.PARTY_KIND_PHARMACY, region="110102", licences=[b.licence()]),
        reg.Party(party_id="SH1", kind=reg.PARTY_KIND_PHARMACY, region="310101", licences=[b.licence()]),
    ]
    statin = b.products()[0]
    statin.daily_units = 1  # 28 a pack: more than 120 units in 90 days is over-supply
    await service.registry.UpsertParties(reg.UpsertPartiesRequest(parties=extra))
    await service.registry.UpsertProducts(reg.UpsertProductsRequest(products=[statin]))


class _World:
    """Buyer stories, one buyer each, with the B findings each must give (kind, decisive event)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[ev.Event] = []
        self.expected: set[tuple[str, str]] = set()
        self.buyers: list[str] = []
        self._n = 0

    def sale(self, buyer: str, party: str, minutes: float) -> str:
        self._n += 1
        eid = f"s{self._n}"
        code = b.code(b.STATIN, 50_000 + self._n)
        self.events.append(ev.Event(sale=b.sale(eid, [(code, None)], party=party, minutes=minutes, buyer=buyer)))
        return eid

    def refund(self, sale_eid: str, party: str, minutes: float) -> None:
        code = b.code(b.STATIN, 50_000 + int(sale_eid[1:]))
        self.events.append(
            ev.Event(
                sale_return=ev.SaleReturn(
                    header=b.header(f"ret-{sale_eid}", party, minutes),
                    sale_id=f"S-{sale_eid}",
                    codes=[ev.ReturnedCode(code=code)],
                )
            )
        )

    def story(self, shape: str) -> None:
        buyer = f"11010119800101{len(self.buyers):04d}"
        self.buyers.append(buyer)
        t = self.rng.uniform(-60 * DAY, -10 * DAY)
        if shape == "multi":  # one prescription at three pharmacies in a week
            self.sale(buyer, "P1", t)
            self.sale(buyer, "P2", t + DAY)
            self.expected.add(("MULTI_PHARMACY", self.sale(buyer, "P3", t + 2 * DAY)))
        elif shape == "refund_then_elsewhere":
            self.sale(buyer, "P1", t)
            self.refund(self.sale(buyer, "P2", t + DAY), "P2", t + DAY + 30)
            self.sale(buyer, "P3", t + 2 * DAY)
        elif shape == "travel":  # the card in Beijing, then in Shanghai an hour later
            self.sale(buyer, "P1", t)
            self.expected.add(("CARD_TRAVEL", self.sale(buyer, "SH1", t + 60)))
        elif shape == "travel_next_day":
            self.sale(buyer, "P1", t)
            self.sale(buyer, "SH1", t + DAY)
        elif shape == "over_supply":  # five packs of 28 in five days at one a day
            eids = [self.sale(buyer, "P1", t + k * DAY) for k in range(5)]
            self.expected.add(("OVER_SUPPLY", eids[-1]))
        elif shape == "chronic":  # a pack every 28 days for half a year, at two pharmacies
            for k in range(7):
                self.sale(buyer, self.rng.choice(["P1", "P2"]), -200 * DAY + k * 28 * DAY)


def _world(seed: int) -> _World:
    w = _World(seed)
    shapes = ["multi", "refund_then_elsewhere", "travel", "travel_next_day", "over_supply", "chronic"]
    for shape in shapes + [w.rng.choice(shapes) for _ in range(6)]:
        w.story(shape)
    return w


async def _reset(raw_db) -> None:
    await raw_db.execute("TRUNCATE events, event_codes, code_state, flags, return_chains, reconcile_runs")


async def _b_flags(raw_db) -> set[tuple[str, str]]:
    rows = await raw_db.fetch("SELECT kind, decisive_event_id FROM flags WHERE rule = 'B' AND status <> 'RESOLVED'")
    return {(r["kind"], r["decisive_event_id"]) for r in rows}


async def test_b_over_shuffled_incremental_runs_equals_one_full_run(service, raw_db):
    for seed in (1, 2, 3):
        await _reset(raw_db)
        await _seed(service)
        world = _world(seed)
        events = world.events[:]
        rng = random.Random(seed)
        rng.shuffle(events)
        cut = sorted(rng.sample(range(1, len(events)), 3))
        for part in (events[i:j] for i, j in zip([0, *cut], [*cut, len(events)], strict=True)):
            acks = await client.stream_events(service.channel, part)
            assert all(a.status == 1 for a in acks), [a.error.message for a in acks if a.status != 1]
            await run(service.engine, Mode.INCREMENTAL, buyer_batch=3)
        assert await _b_flags(raw_db) == world.expected, seed
        incremental = await live_flags(raw_db)

        full = await run(service.engine, Mode.FULL)
        assert (full.flags_new, full.flags_resolved) == (0, 0)
        assert full.buyers_done == len(world.buyers)
        await raw_db.execute("TRUNCATE flags, return_chains, reconcile_runs")
        await run(service.engine, Mode.FULL, buyer_batch=5)
        assert await live_flags(raw_db) == incremental


async def test_a_later_refund_resolves_a_multi_pharmacy_flag_on_an_incremental_run(service, raw_db):
    await _seed(service)
    w = _World(0)
    w.story("multi")
    await client.stream_events(service.channel, w.events)
    await run(service.engine, Mode.INCREMENTAL)
    assert await _b_flags(raw_db) == w.expected
    w.refund("s2", "P2", -DAY)  # the second pharmacy's sale is refunded: two places are left
    await client.stream_events(service.channel, w.events[-1:])
    info = await run(service.engine, Mode.INCREMENTAL)
    assert (info.buyers_done, info.flags_resolved) == (1, 1)
    assert await _b_flags(raw_db) == set()


async def test_no_clear_insured_number_anywhere_and_flags_carry_the_token(service, raw_db):
    await _seed(service)
    world = _world(7)
    await client.stream_events(service.channel, world.events)
    await run(service.engine, Mode.FULL)
    tables = [r[0] for r in await raw_db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"events", "flags", "reconcile_runs"} <= set(tables)
    for table in tables:
        dump = "\n".join(r[0] for r in await raw_db.fetch(f"SELECT t::text FROM {table} t"))  # noqa: S608
        for number in world.buyers:
            assert number not in dump, (table, number)
    tokens = {r[0] for r in await raw_db.fetch("SELECT buyer_token FROM flags WHERE rule = 'B'")}
    assert tokens and tokens <= {privacy.buyer_token(KEY, n) for n in world.buyers}
    assert await raw_db.fetchval("SELECT count(*) FROM flags WHERE rule <> 'B' AND buyer_token IS NOT NULL") == 0

    stub = enforcement_pb2_grpc.EnforcementServiceStub(service.channel)
    token = next(iter(tokens))
    page = await stub.ListFlags(enf.ListFlagsRequest(rule="B", buyer_token=token))
    assert page.flags and all(f.buyer_token == token and f.rule == "B" for f in page.flags)
    want = await raw_db.fetchval("SELECT count(*) FROM flags WHERE buyer_token = $1", token)
    assert len(page.flags) == want


async def test_a_run_records_and_applies_its_rule_b_parameters(service, raw_db):
    await _seed(service)
    w = _World(0)
    w.story("refund_then_elsewhere")  # two counted places: flags only when K is 2
    await client.stream_events(service.channel, w.events)
    stub = reconcile_pb2_grpc.ReconcileServiceStub(service.channel)
    done = (
        await stub.RunReconciliation(
            rec.RunReconciliationRequest(
                mode=rec.RUN_MODE_FULL, wait=True, buyer_params=rec.BuyerRuleParams(multi_pharmacies=2)
            )
        )
    ).run
    assert done.buyer_params.multi_pharmacies == 2 and done.buyer_params.supply_window_days == 90
    assert done.buyers_done == 1
    assert await _b_flags(raw_db) == {("MULTI_PHARMACY", "s3")}
    got = (await stub.GetRun(rec.GetRunRequest(run_id=done.run_id))).run
    assert got.buyer_params == done.buyer_params
    default = (await stub.RunReconciliation(rec.RunReconciliationRequest(mode=rec.RUN_MODE_FULL, wait=True))).run
    assert default.buyer_params.multi_pharmacies == 3 and default.flags_resolved == 1
