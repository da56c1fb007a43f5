"""The committed generated code matches the .proto files."""

from __future__ import annotations

from scripts import gen_protos


def test_generated_code_is_fresh():
    fresh = gen_protos.generated_files()
    committed = {p.name: p.read_bytes() for p in gen_protos.GENERATED_DIR.glob("*_pb2*.py*")}
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert not stale, f"run `python scripts/gen_protos.py`; stale: {stale}"
