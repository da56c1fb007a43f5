"""Persistence: PostgreSQL tables, queries, migrations, and the embedded server."""
