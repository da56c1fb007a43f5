"""Fixtures for tests that need Spark: one SparkSession (local[2]) for the whole session."""

from __future__ import annotations

import pytest

from reconciler.spark import requirements


@pytest.fixture(scope="session")
def spark():
    missing = requirements().missing()
    if missing:
        pytest.skip("Spark engine unavailable: needs " + "; ".join(missing))
    from reconciler.spark.job import session  # noqa: PLC0415 (optional dependency: loaded only when used)

    s = session("local[2]")
    yield s
    s.stop()
