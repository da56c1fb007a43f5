"""The schema the migrations build is exactly the one declared in tracesvc/store/schema.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tracesvc.store.db import create_engine
from tracesvc.store.schema import metadata


async def test_migrations_build_exactly_the_declared_schema(db_url):
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
