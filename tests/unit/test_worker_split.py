"""A range of keys split among worker lanes: every key in exactly one part, parts of disjoint lock shards."""

from __future__ import annotations

import pytest

from reconciler.store.locks import shard_of
from reconciler.workers import split


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_parts_hold_every_key_once_in_order_and_never_share_a_shard(parts):
    keys = [f"86{n:018d}" for n in range(0, 30_000, 7)]
    out = split(keys, parts)
    assert len(out) == parts
    assert sorted(k for p in out for k in p) == sorted(keys)
    for p in out:
        assert p == sorted(p)  # key order kept within a part
    shards = [{shard_of(k) for k in p} for p in out]
    for i, a in enumerate(shards):
        for b in shards[i + 1 :]:
            assert not a & b
    if parts > 1:
        assert all(out), "every lane gets work on a range this size"
