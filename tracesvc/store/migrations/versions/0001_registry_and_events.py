"""Registry (parties, licences, products) and the immutable event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("party_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("region", sa.Text, nullable=False, server_default=""),
        sa.Column("chain_id", sa.Text, nullable=False, server_default=""),
        sa.Column("reports_events", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "licences",
        sa.Column("licence_pk", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("party_id", sa.Text, sa.ForeignKey("parties.party_id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False, server_default=""),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.Column("status_history", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_index("ix_licences_party_id", "licences", ["party_id"])
    op.create_table(
        "products",
        sa.Column("prefix", sa.Text, primary_key=True),
        sa.Column("scheme", sa.Text, nullable=False),
        sa.Column("manufacturer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("generic_name", sa.Text, nullable=False, server_default=""),
        sa.Column("spec", sa.Text, nullable=False, server_default=""),
        sa.Column("pack_units", sa.Integer, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("insurance_code", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("pack_units >= 1", name="pack_units_positive"),
    )
    op.create_index("ix_products_insurance_code", "products", ["insurance_code"])
    op.create_table(
        "events",
        sa.Column("event_seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("party_id", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document_no", sa.Text, nullable=False, server_default=""),
        sa.Column("counterparty_id", sa.Text, nullable=False, server_default=""),
        sa.Column("sale_id", sa.Text),
        sa.Column("buyer_token", sa.Text),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "uq_events_sale", "events", ["party_id", "sale_id"], unique=True, postgresql_where=sa.text("kind = 'SALE'")
    )
    op.create_index("ix_events_party_time", "events", ["party_id", "occurred_at"])
    op.create_index("ix_events_received", "events", ["received_at"])
    op.create_table(
        "event_codes",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("event_seq", sa.BigInteger, primary_key=True),
        sa.Column("line_no", sa.SmallInteger, primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("party_id", sa.Text, nullable=False),
        sa.Column("units", sa.Integer),
        sa.Column("is_trace", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("event_codes", "events", "products", "licences", "parties"):
        op.drop_table(table)
