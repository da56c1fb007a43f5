"""The Spark engine's pure parts: chunking a bucket's rows, where PostgreSQL is, what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")

from reconciler.spark import Requirements, SparkUnavailable, require  # noqa: E402
from reconciler.spark.job import target_of  # noqa: E402
from reconciler.spark.tasks import chunks_by_key  # noqa: E402


def test_chunks_never_split_one_codes_rows():
    rows = [{"code": c, "n": i} for i, c in enumerate("aaabccddddde")]
    batches = [pa.RecordBatch.from_pylist(rows[:4]), pa.RecordBatch.from_pylist(rows[4:])]
    chunks = list(chunks_by_key(iter(batches), "code", 2))
    assert [keys for keys, _ in chunks] == [["a", "b"], ["c", "d"], ["e"]]
    assert [len(r) for _, r in chunks] == [4, 7, 1]


def test_a_unix_socket_url_is_relayed_and_a_tcp_url_is_used_as_is():
    local = target_of("postgresql+asyncpg://postgres:@/t_1?host=/tmp/pg")
    assert local.socket == Path("/tmp/pg/.s.PGSQL.5432") and local.dsn.startswith("postgresql://")
    remote = target_of("postgresql://rec:secret@pg.example:6543/tracesvc")
    assert remote.socket is None
    assert (remote.jdbc_url, remote.user, remote.password) == (
        "jdbc:postgresql://pg.example:6543/tracesvc",
        "rec",
        "secret",
    )


def test_the_error_names_everything_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailable) as err:
        require(tmp_path / "nope.jar")
    assert "Java runtime" in str(err.value) and "JDBC driver" in str(err.value)
    assert Requirements("/usr/bin/java", True, True, Path("x.jar")).missing() == []
