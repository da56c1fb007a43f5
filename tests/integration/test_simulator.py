"""The simulator and the detection-quality report: determinism, a clean legitimate world, and
precision and recall of every rule family on several seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli import run_cli
from tracesvc.sim.generate import FRAUDS, Simulation
from tracesvc.sim.quality import measure


def test_the_same_seed_gives_byte_identical_output(tmp_path: Path):
    for name in ("a", "b"):
        done = run_cli("simulate", "--seed", "3", "--scale", "600", "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    files = ["registry.ndjson", "events.ndjson", "labels.jsonl", "commissioned.txt"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "labels.jsonl").read_text().count("\n") > 20
    other = Simulation(4, 600)
    first = [item for _, item in Simulation(3, 600).run()][:50]
    assert first != [item for _, item in other.run()][:50]


def test_every_fraud_story_is_generated_and_labelled():
    stories = {item.story for what, item in Simulation(5, 4000).run() if what == "label"}
    assert stories == set(FRAUDS)


@pytest.mark.slow
async def test_a_legitimate_world_raises_no_flag(service):
    q = await measure(service.target, None, seed=21, scale=2500, fraud_rate=0.0)
    assert not q.ack_errors and q.acks["STORED"] > 10_000
    assert not q.labels
    assert not q.flags, q.render()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_precision_and_recall_of_every_rule_family(service, seed):
    q = await measure(service.target, None, seed=seed, scale=3000)
    assert not q.ack_errors
    families = q.by(1)
    assert set(families) == {("B",), ("D",), ("L",), ("R",), ("S",)}
    for family, g in families.items():
        assert g["precision"] >= 0.99 and g["recall"] >= 0.99, (family, q.render())
