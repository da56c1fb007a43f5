"""Alembic environment: runs on the connection tracesvc hands it (store.db.migrate)."""

from alembic import context

from tracesvc.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through tracesvc (tracesvc.store.db.migrate), which passes a connection")
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
