"""Detection quality: simulate, ingest through the gRPC API, reconcile, compare flags to labels.

A flag matches a label when they agree on rule, kind, code, subject party and decisive
event. Flags are the findings that stand (not RESOLVED) after one full run. Per rule and
kind: precision = matched flags / flags, recall = matched labels / labels. Money at
risk: injected = the labels' money, found = the money of the flags that matched them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tracesvc import client
from tracesvc.sim import world
from tracesvc.sim.generate import Label, Simulation
from tracesvc.v1 import (
    ack_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    reconcile_pb2,
    reconcile_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)

Key = tuple[str, str, str, str, str]


@dataclass
class Quality:
    seed: int
    scale: int
    events: int = 0
    acks: Counter = field(default_factory=Counter)
    ack_errors: list[str] = field(default_factory=list)
    labels: dict[Key, Label] = field(default_factory=dict)
    flags: dict[Key, int] = field(default_factory=dict)  # key -> money_fen
    run_seconds: float = 0.0

    @property
    def true_positives(self) -> set[Key]:
        return self.labels.keys() & self.flags.keys()

    @property
    def false_positives(self) -> list[Key]:
        return sorted(self.flags.keys() - self.labels.keys())

    @property
    def false_negatives(self) -> list[Key]:
        return sorted(self.labels.keys() - self.flags.keys())

    def by(self, depth: int) -> dict[tuple, dict[str, float]]:
        """Counts and ratios grouped by rule (depth 1) or rule and kind (depth 2)."""
        groups: dict[tuple, dict[str, float]] = defaultdict(
            lambda: {"tp": 0, "fp": 0, "fn": 0, "injected": 0, "found": 0}
        )
        tp = self.true_positives
        for k in self.flags.keys() | self.labels.keys():
            g = groups[k[:depth]]
            if k in tp:
                g["tp"] += 1
                g["found"] += self.flags[k]
            elif k in self.flags:
                g["fp"] += 1
            else:
                g["fn"] += 1
            if k in self.labels:
                g["injected"] += self.labels[k].money_fen
        for g in groups.values():
            g["precision"] = g["tp"] / (g["tp"] + g["fp"]) if g["tp"] + g["fp"] else 1.0
            g["recall"] = g["tp"] / (g["tp"] + g["fn"]) if g["tp"] + g["fn"] else 1.0
        return dict(sorted(groups.items()))

    def render(self) -> str:
        out = [
            f"quality: seed {self.seed}, scale {self.scale} boxes, {self.events} events "
            f"({dict(self.acks)}), reconciled in {self.run_seconds:.1f} s",
            f"{'rule kind':<32}{'labels':>8}{'flags':>8}{'precision':>11}{'recall':>8}"
            f"{'injected ¥':>13}{'found ¥':>13}",
        ]
        for depth in (2, 1):
            for key, g in self.by(depth).items():
                name = " ".join(key) if depth == 2 else f"{key[0]} (all kinds)"
                out.append(
                    f"{name:<32}{g['tp'] + g['fn']:>8}{g['tp'] + g['fp']:>8}{g['precision']:>11.4f}"
                    f"{g['recall']:>8.4f}{g['injected'] / 100:>13,.2f}{g['found'] / 100:>13,.2f}"
                )
        for title, keys in (("false positives", self.false_positives), ("false negatives", self.false_negatives)):
            out.append(f"{title}: {len(keys)}")
            for k in keys:
                story = self.labels[k].story if k in self.labels else "-"
                out.append(f"  {' '.join(k)}  story={story}")
        return "\n".join(out)


async def measure(target: str, token: str | None, seed: int, scale: int, fraud_rate: float = 0.08) -> Quality:
    sim = Simulation(seed, scale, fraud_rate)
    q = Quality(seed, scale)
    meta = client.bearer(token)
    async with client.channel(target) as ch:
        await client.upsert_registry(ch, world.registry_records(), token=token)
        registry = registry_pb2_grpc.RegistryServiceStub(ch)
        batch: list[str] = []
        for code in [*sim.commissioned(), None]:
            if code is not None:
                batch.append(code)
            if batch and (code is None or len(batch) >= 50_000):
                await registry.UpsertCommissionedCodes(
                    registry_pb2.UpsertCommissionedCodesRequest(prefix=world.LISTED, codes=batch), metadata=meta
                )
                batch = []

        async def requests():
            for what, item in sim.run():
                if what == "label":
                    q.labels[item.key()] = item
                else:
                    q.events += 1
                    yield ingest_pb2.StreamEventsRequest(event=item)

        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        async for resp in stub.StreamEvents(requests(), metadata=meta):
            q.acks[ack_pb2.AckStatus.Name(resp.ack.status).removeprefix("ACK_STATUS_")] += 1
            if resp.ack.status in (ack_pb2.ACK_STATUS_REJECTED, ack_pb2.ACK_STATUS_CONFLICT):
                q.ack_errors.append(f"{resp.ack.event_id}: {resp.ack.error.message}")
        run = (
            await reconcile_pb2_grpc.ReconcileServiceStub(ch).RunReconciliation(
                reconcile_pb2.RunReconciliationRequest(mode=reconcile_pb2.RUN_MODE_FULL, wait=True), metadata=meta
            )
        ).run
        q.run_seconds = run.seconds
        for f in await client.all_flags(ch, token):
            q.flags[(f.rule, f.kind, f.code, f.subject_party, f.decisive_event_id)] = f.money_fen
    return q
