"""Which database URLs count as this machine's, for renicing the bulk lane's backends."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import make_url

from tracesvc.store import db


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql+asyncpg://u@/tracesvc?host=/tmp/pg", True),
        ("postgresql+asyncpg://u@localhost/tracesvc", True),
        ("postgresql+asyncpg://u@127.0.0.1:5432/tracesvc", True),
        ("postgresql+asyncpg://u@db.internal/tracesvc", False),
        ("postgresql+asyncpg://u@/tracesvc?host=db1.internal&host=db2.internal", False),
    ],
)
def test_only_a_url_naming_this_machine_is_local(url, local, monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    assert db._is_local(make_url(url)) is local


def test_no_host_follows_pghost(monkeypatch):
    monkeypatch.setenv("PGHOST", "db.internal")
    assert db._is_local(make_url("postgresql+asyncpg://u@/tracesvc")) is False
    monkeypatch.setenv("PGHOST", "/var/run/postgresql")
    assert db._is_local(make_url("postgresql+asyncpg://u@/tracesvc")) is True


def test_only_a_fresh_postgres_process_is_reniced():
    assert db._is_fresh_postgres(os.getpid()) is False  # this test runner is not a backend
    assert db._is_fresh_postgres(1) is False
