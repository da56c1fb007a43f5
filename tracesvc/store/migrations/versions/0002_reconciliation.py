"""Reconciliation: ingest transaction ids for incremental runs, commissioned codes, flags,
return chains and runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("events", "event_codes"):
        op.add_column(
            table,
            sa.Column(
                "ingest_xid",
                sa.BigInteger,
                nullable=False,
                server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
            ),
        )
        op.create_index(f"ix_{table}_ingest_xid", table, ["ingest_xid"], postgresql_using="brin")
    op.create_table(
        "commissioned_products",
        sa.Column("prefix", sa.Text, primary_key=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "commissioned_codes",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("prefix", sa.Text, nullable=False),
    )
    op.create_table(
        "flags",
        sa.Column("flag_seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("flag_id", sa.Text, primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("decisive_event_id", sa.Text, nullable=False),
        sa.Column("decisive_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_party", sa.Text, nullable=False),
        sa.Column("subject_region", sa.Text, nullable=False, server_default=""),
        sa.Column("related_parties", ARRAY(sa.Text), nullable=False),
        sa.Column("evidence", ARRAY(sa.Text), nullable=False),
        sa.Column("money_fen", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_run", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_reason", sa.Text),
        sa.Column("reviewed_by", sa.Text),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("review_note", sa.Text),
    )
    op.create_index("uq_flags_identity", "flags", ["rule", "kind", "decisive_event_id", "code"], unique=True)
    op.create_index("ix_flags_code", "flags", ["code"])
    op.create_index("ix_flags_decisive_event", "flags", ["decisive_event_id"])
    op.create_index("ix_flags_subject", "flags", ["subject_party"])
    op.create_index("ix_flags_status_rule", "flags", ["status", "rule", "kind"])
    op.create_table(
        "return_chains",
        sa.Column("flag_id", sa.Text, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("originals", JSONB, nullable=False),
        sa.Column("reentry", JSONB),
        sa.Column("resales", JSONB, nullable=False),
        sa.Column("buyer_tokens", ARRAY(sa.Text), nullable=False),
        sa.Column("original_sellers", ARRAY(sa.Text), nullable=False),
        sa.Column("reentry_party", sa.Text),
        sa.Column("reentry_supplier", sa.Text),
        sa.Column("resale_parties", ARRAY(sa.Text), nullable=False),
        sa.Column("money_fen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_return_chains_code", "return_chains", ["code"])
    op.create_table(
        "reconcile_runs",
        sa.Column("run_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("window_from", sa.DateTime(timezone=True)),
        sa.Column("window_to", sa.DateTime(timezone=True)),
        sa.Column("xid_from", sa.BigInteger),
        sa.Column("xid_to", sa.BigInteger, nullable=False),
        sa.Column("code_cursor", sa.Text, nullable=False, server_default=""),
        sa.Column("sale_cursor", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("codes_total", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("codes_done", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("sales_done", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("flags_new", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("flags_resolved", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    for table in ("reconcile_runs", "return_chains", "flags", "commissioned_codes", "commissioned_products"):
        op.drop_table(table)
    for table in ("event_codes", "events"):
        op.drop_index(f"ix_{table}_ingest_xid", table)
        op.drop_column(table, "ingest_xid")
