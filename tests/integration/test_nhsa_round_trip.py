"""A month of the simulator's traffic written as NHSA 3501–3506 messages, imported with `tracesvc import
--format nhsa`, and reconciled gives the same flags as the same traffic sent as proto events.

What NHSA cannot carry (makers' and wholesalers' events, shipments, transfers, sale lines a 3505 row cannot
say: see tracesvc/sim/nhsa.py) goes as proto events in both runs; NHSA carries times to the second, so both
runs get the traffic at whole seconds. The intake names events its own way (nhsa:<party>:<infno>:<doc>), so
flags are compared with each NHSA id mapped back to the proto event it came from.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.test_cli import cli, run_cli
from tests.reconcile_helpers import run
from tracesvc import client
from tracesvc.sim import world
from tracesvc.sim.generate import Simulation
from tracesvc.sim.nhsa import designated, to_nhsa, write_messages
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import registry_pb2, registry_pb2_grpc

SEED, SCALE = 4, 700


def _traffic() -> list[ev.Event]:
    """The simulator's month, every time cut to whole seconds (what an NHSA `sel_retn_time` holds)."""
    events = []
    for what, item in Simulation(SEED, SCALE).run():
        if what == "event":
            getattr(item, item.WhichOneof("kind")).header.occurred_at.nanos = 0
            events.append(item)
    return events


async def _registry(service) -> None:
    await client.upsert_registry(service.channel, world.registry_records())
    codes = list(Simulation(SEED, SCALE).commissioned())
    await registry_pb2_grpc.RegistryServiceStub(service.channel).UpsertCommissionedCodes(
        registry_pb2.UpsertCommissionedCodesRequest(prefix=world.LISTED, codes=codes)
    )


async def _send(service, events: list[ev.Event]) -> Counter[int]:
    acks = await client.stream_events(service.channel, events)
    bad = [a.error.message for a in acks if a.status not in (1, 2)]
    assert not bad, bad[:5]
    return Counter(a.status for a in acks)


async def _flags(raw_db, back: dict[str, str]) -> set[tuple]:
    """The standing flags, with every event id in proto terms."""
    rows = await raw_db.fetch(
        """SELECT rule, kind, code, decisive_event_id, severity, subject_party, related_parties, evidence, money_fen,
                  buyer_token FROM flags WHERE status <> 'RESOLVED'"""
    )
    return {
        (
            r["rule"],
            r["kind"],
            r["code"],
            back.get(r["decisive_event_id"], r["decisive_event_id"]),
            r["severity"],
            r["subject_party"],
            tuple(sorted(r["related_parties"])),
            tuple(sorted(back.get(e, e) for e in r["evidence"])),
            r["money_fen"],
            r["buyer_token"],
        )
        for r in rows
    }


@pytest.mark.slow
async def test_a_month_as_nhsa_messages_gives_the_same_flags_as_proto_events(service, config, raw_db, tmp_path: Path):
    events = _traffic()
    await _registry(service)
    await _send(service, events)
    await run(service.engine)
    as_proto = await _flags(raw_db, {})
    assert {f[0] for f in as_proto} == {"B", "D", "L", "R", "S"}, "the month should exercise every rule"

    await raw_db.execute("TRUNCATE events, event_codes, code_state, flags, return_chains, reconcile_runs")
    registry = world.parties()
    traffic = to_nhsa(events, designated(registry), suppliers={p.party_id: p for p in registry})
    # most of a pharmacy's traffic travels as NHSA; every infno the simulator's stories use is exercised
    assert set(traffic.carried) == {"3501", "3503", "3504", "3505", "3506"}, traffic.carried
    sales = sum(1 for e in events if e.WhichOneof("kind") == "sale")
    assert traffic.carried["3505"] > 0.95 * sales
    assert {e.WhichOneof("kind") for e in traffic.rest} >= {"shipment", "transfer"}
    # written as HIS systems write them: suppliers by licence number and name, self-pay sales by retail document
    rows = [r for m in traffic.messages for rs in m["input"].values() for r in (rs if isinstance(rs, list) else [rs])]
    assert any(r.get("spler_pmtno", "").startswith("许可") and r.get("spler_name") for r in rows)
    assert any("rtal_docno" in r and "setl_id" not in r and "psn_no" not in r for r in rows if "sel_retn_cnt" in r)
    folder = tmp_path / "nhsa"
    assert write_messages(traffic, folder) == len(traffic.messages)
    done = await cli("import", "--format", "nhsa", str(folder), "--target", service.target)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    resent = sum(traffic.carried.values()) - len(traffic.ids)  # a re-sent event's second message is a DUPLICATE
    assert f"duplicate {resent}," in done.stdout and f"stored {len(traffic.ids)}" in done.stdout, done.stdout[:500]
    await _send(service, traffic.rest)
    await run(service.engine)
    back = {nhsa: proto for proto, nhsa in traffic.ids.items()}
    as_nhsa = await _flags(raw_db, back)
    assert as_nhsa == as_proto, (sorted(as_proto - as_nhsa)[:5], sorted(as_nhsa - as_proto)[:5])


def test_simulate_writes_the_designated_parties_traffic_as_nhsa_and_the_rest_as_proto(tmp_path: Path):
    done = run_cli("simulate", "--seed", "2", "--scale", "200", "--format", "nhsa", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for f in sorted((tmp_path / "nhsa").glob("*.ndjson")) for line in f.open()]
    assert {m["infno"] for m in messages} >= {"3503", "3505"}
    assert all(m["fixmedins_code"] in designated(world.parties()) for m in messages)
    rest = [json.loads(line) for line in (tmp_path / "events.ndjson").open()]
    assert rest and not [e for e in rest if "sale" in e or "saleReturn" in e]  # every sale went as NHSA
    total = sum(1 for what, _ in Simulation(2, 200).run() if what == "event")
    rows = sum(len(m["input"][k]) for m in messages for k in m["input"])
    assert len(rest) < total and rows > 0
