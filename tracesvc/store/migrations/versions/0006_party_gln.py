"""Intake (issue 11): GLN → party mapping, intake evidence (decommissioning, retractions), EPCIS captures.

Revision ID: 0006_party_gln
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0006_party_gln"
down_revision = "0003"
branch_labels = None
depends_on = None

_XID = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    op.create_table(
        "party_glns",
        sa.Column("gln", sa.Text, primary_key=True),
        sa.Column("party_id", sa.Text, sa.ForeignKey("parties.party_id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_party_glns_party_id", "party_glns", ["party_id"])
    op.create_table(
        "intake_evidence",
        sa.Column("evidence_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("party_id", sa.Text, nullable=False, server_default=""),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_event_id", sa.Text, nullable=False, server_default=""),
        sa.Column("codes", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("ingest_xid", sa.BigInteger, nullable=False, server_default=sa.text(_XID)),
    )
    op.create_index("ix_intake_evidence_target", "intake_evidence", ["target_event_id"])
    op.create_table(
        "epcis_captures",
        sa.Column("capture_id", sa.Text, primary_key=True),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("success", sa.Boolean),
        sa.Column("results", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


def downgrade() -> None:
    op.drop_table("epcis_captures")
    op.drop_table("intake_evidence")
    op.drop_table("party_glns")
