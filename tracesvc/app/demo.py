"""The README's main job: a service on the embedded PostgreSQL, driven through a simulated day.

It registers the simulated supply chain, streams its events through the gRPC API (late
and out of order, some sent twice, as offline POS systems do), sends the same upload
again, shows three counter mistakes being stopped, reconciles, and prints what the
service found: flags by rule, money at risk, and the top return-drug chain.
"""

from __future__ import annotations

from collections import Counter

from tracesvc import client
from tracesvc.client.wire import to_timestamp
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.v1 import (
    ack_pb2,
    enforcement_pb2,
    enforcement_pb2_grpc,
    events_pb2,
    reconcile_pb2,
    reconcile_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)

SEED, BOXES = 7, 1500


def troubles() -> list[events_pb2.Event]:
    """What a counter gets wrong: a double scan, a mistyped code, a missing timestamp."""
    code = f"8610001{99:013d}"
    when = to_timestamp(world.START)
    return [
        events_pb2.Event(
            sale=events_pb2.Sale(
                header=events_pb2.EventHeader(event_id="RX-S1-sale-dbl", party_id="RX-S1", occurred_at=when),
                sale_id="SET-99001",
                lines=[
                    events_pb2.SaleLine(
                        insurance_code="XC10AAA001",
                        quantity=1,
                        amount_fen=3850,
                        scanned=[events_pb2.ScannedCode(code=code)] * 2,
                    )
                ],
            )
        ),
        events_pb2.Event(
            receipt=events_pb2.Receipt(
                header=events_pb2.EventHeader(event_id="IND-01-rec-typo", party_id="IND-01", occurred_at=when),
                supplier_id="WHS-01",
                items=[events_pb2.TraceItem(code="861000100000000001")],
            )
        ),
        events_pb2.Event(
            receipt=events_pb2.Receipt(
                header=events_pb2.EventHeader(event_id="IND-01-rec-notime", party_id="IND-01"),
                supplier_id="WHS-01",
                items=[events_pb2.TraceItem(code=code)],
            )
        ),
    ]


async def drive(target: str, token: str | None = None, boxes: int = BOXES) -> dict:
    """Register, stream the simulated day, retry part of it, send the troubles, reconcile; summarise."""
    auth = client.bearer(token)
    sim = Simulation(SEED, boxes)
    day = [item for what, item in sim.run() if what == "event"]
    async with client.channel(target) as ch:
        reg_results = await client.upsert_registry(ch, world.registry_records(), token=token)
        await registry_pb2_grpc.RegistryServiceStub(ch).UpsertCommissionedCodes(
            registry_pb2.UpsertCommissionedCodesRequest(prefix=world.LISTED, codes=list(sim.commissioned())),
            metadata=auth,
        )
        first = await client.stream_events(ch, day, token)
        retry = await client.stream_events(ch, day[:500], token)  # a POS that lost its acks sends again
        bad = await client.stream_events(ch, troubles(), token)
        run = (
            await reconcile_pb2_grpc.ReconcileServiceStub(ch).RunReconciliation(
                reconcile_pb2.RunReconciliationRequest(mode=reconcile_pb2.RUN_MODE_FULL, wait=True), metadata=auth
            )
        ).run
        enf = enforcement_pb2_grpc.EnforcementServiceStub(ch)
        flags = await client.all_flags(ch, token)
        chains = (
            await enf.ListReturnChains(enforcement_pb2.ListReturnChainsRequest(page_size=1000), metadata=auth)
        ).chains
        suppliers = (
            await enf.RankSuspects(
                enforcement_pb2.RankSuspectsRequest(role=enforcement_pb2.SUSPECT_ROLE_SUPPLIER, limit=3), metadata=auth
            )
        ).suspects
    top = max(chains, key=lambda c: (c.HasField("reentry"), c.money_fen, len(c.resales), c.flag_id), default=None)
    return {
        "registry": client.count_statuses(reg_results),
        "events": dict(Counter(e.WhichOneof("kind") for e in day)),
        "first_pass": client.count_statuses(first),
        "retry": client.count_statuses(retry),
        "troubles": [(a.event_id, ack_pb2.AckStatus.Name(a.status), a.error.message) for a in bad],
        "run": run,
        "flags": Counter(f"{f.rule} {f.kind}" for f in flags),
        # Several flags may name one sale: count each decisive event's money once.
        "money_fen": sum({f.decisive_event_id: f.money_fen for f in sorted(flags, key=lambda f: f.money_fen)}.values()),
        "top_chain": top,
        "suppliers": [(s.id, s.chains) for s in suppliers],
    }


def _chain_path(chain) -> str:
    def sale(s) -> str:
        return f"sold by {s.party_id} at {s.occurred_at.ToDatetime():%m-%d %H:%M} to buyer {s.buyer_token[:8]}…"

    steps = [sale(s) for s in chain.originals]
    if chain.HasField("reentry"):
        e = chain.reentry
        steps.append(
            f"back in at {e.party_id} from {e.supplier_id or '?'} ({e.kind}) "
            f"at {e.occurred_at.ToDatetime():%m-%d %H:%M}"
        )
    else:
        steps.append("back in: unrecorded")
    steps += ["re" + sale(s) for s in chain.resales]
    return f"{chain.code}: " + "\n      → ".join(steps)


def print_summary(summary: dict) -> None:
    print("tracesvc demo: a simulated month of one region's drug traffic through the gRPC API")
    print(f"  registry items        {dict(summary['registry'])}")
    print(f"  events by kind        {summary['events']}")
    print(f"  first upload          {dict(summary['first_pass'])}  (DUPLICATE: events the POS sent twice)")
    print(f"  500 events, retried   {dict(summary['retry'])}  (idempotent: nothing stored twice)")
    print("  mistakes stopped at the counter:")
    for event_id, status, message in summary["troubles"]:
        print(f"    {event_id:<20} {status.removeprefix('ACK_STATUS_'):<9} {message}")
    run = summary["run"]
    print(
        f"  reconciliation run {run.run_id}: {run.codes_done} codes, {run.sales_done} sales, "
        f"{run.flags_new} flags in {run.seconds:.2f} s"
    )
    for name, n in sorted(summary["flags"].items()):
        print(f"    {name:<28} {n}")
    print(f"  insurance fund money at risk: ¥{summary['money_fen'] / 100:,.2f}")
    print(f"  suppliers feeding return drugs back in: {summary['suppliers']}")
    if summary["top_chain"] is not None:
        print("  top return-drug chain:\n    " + _chain_path(summary["top_chain"]))
