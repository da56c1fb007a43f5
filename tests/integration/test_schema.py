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


async def test_the_derived_values_of_rows_stored_before_them_are_filled_alike(service, raw_db):
    """Migration 0010 moves what SQL read from payloads by position into named columns: rows stored
    before it get exactly the values ingest now writes, and their payloads and hashes stay as they were."""
    from alembic import command

    from tests.integration.test_reconcile_api import ring
    from tracesvc.store.db import alembic_config

    await ring(service)
    derived = """SELECT e.event_id, e.fund_paid_fen, e.content_hash, e.payload::text AS payload,
                        array_agg((ec.code, ec.line_no, ec.fund_fen, ec.batch)::text
                                  ORDER BY ec.code, ec.line_no) AS codes
                 FROM events e JOIN event_codes ec ON ec.event_seq = e.event_seq GROUP BY e.event_seq"""
    written = {r["event_id"]: tuple(r) for r in await raw_db.fetch(derived)}
    assert any(r[1] > 0 for r in written.values()), "the story has sales with fund paid"

    async def alembic(verb: str, revision: str) -> None:
        async with service.engine.begin() as conn:
            await conn.run_sync(lambda c: getattr(command, verb)(alembic_config(c), revision))

    await alembic("downgrade", "0009_run_engine")
    await alembic("upgrade", "head")
    assert {r["event_id"]: tuple(r) for r in await raw_db.fetch(derived)} == written
