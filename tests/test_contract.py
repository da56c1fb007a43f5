"""The committed generated code matches the .proto files, and the schema matches its migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tracesvc import protogen
from tracesvc.store.db import create_engine
from tracesvc.store.schema import metadata


def test_generated_code_is_fresh():
    fresh = protogen.generated_files()
    committed = {p.name: p.read_bytes() for p in protogen.GENERATED_DIR.glob("*_pb2*.py*")}
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert not stale, f"run `python -m tracesvc.protogen`; stale: {stale}"


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
