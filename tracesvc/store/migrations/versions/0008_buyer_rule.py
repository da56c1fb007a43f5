"""Rule B (buyer anomalies): products' daily units, the buyer token on flags, indexes to load one
buyer's sales and the refunds naming them, and per-run rule B parameters and progress.

Revision ID: 0008_buyer_rule
Revises: 0007_cases
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_buyer_rule"
down_revision = "0007_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("daily_units", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.create_check_constraint("daily_units_not_negative", "products", "daily_units >= 0")
    op.create_index(
        "ix_events_buyer_token",
        "events",
        ["buyer_token", "occurred_at"],
        postgresql_where=sa.text("kind = 'SALE' AND buyer_token IS NOT NULL"),
    )
    op.create_index(
        "ix_events_refunded_sale", "events", ["party_id", "sale_id"], postgresql_where=sa.text("kind = 'SALE_RETURN'")
    )
    op.add_column("flags", sa.Column("buyer_token", sa.Text))
    op.create_index(
        "ix_flags_buyer_token", "flags", ["buyer_token"], postgresql_where=sa.text("buyer_token IS NOT NULL")
    )
    op.add_column("reconcile_runs", sa.Column("buyer_cursor", sa.Text, nullable=False, server_default=""))
    op.add_column(
        "reconcile_runs", sa.Column("buyers_done", sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )
    op.add_column(
        "reconcile_runs", sa.Column("rule_params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )


def downgrade() -> None:
    for column in ("rule_params", "buyers_done", "buyer_cursor"):
        op.drop_column("reconcile_runs", column)
    op.drop_index("ix_flags_buyer_token", "flags")
    op.drop_column("flags", "buyer_token")
    op.drop_index("ix_events_refunded_sale", "events")
    op.drop_index("ix_events_buyer_token", "events")
    op.drop_constraint("daily_units_not_negative", "products")
    op.drop_column("products", "daily_units")
