"""Per-code state for verification, API keys, and the audit log of evidence reads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_state",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("sold_whole", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("sold_units", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("returned_whole", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("returned_units", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("last_sale_at", sa.DateTime(timezone=True)),
        sa.Column("last_sale_party", sa.Text),
        sa.Column("holders", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    # Existing events (an upgrade of a running deployment): derive the state once.
    op.execute("""
        INSERT INTO code_state (code, sold_whole, sold_units, returned_whole, returned_units, last_sale_at,
                                last_sale_party, holders)
        SELECT ec.code,
               count(*) FILTER (WHERE ec.kind = 'SALE' AND ec.units IS NULL),
               coalesce(sum(ec.units) FILTER (WHERE ec.kind = 'SALE'), 0),
               count(*) FILTER (WHERE ec.kind = 'SALE_RETURN' AND ec.units IS NULL),
               coalesce(sum(ec.units) FILTER (WHERE ec.kind = 'SALE_RETURN'), 0),
               max(ec.occurred_at) FILTER (WHERE ec.kind = 'SALE'),
               (array_agg(ec.party_id ORDER BY ec.occurred_at DESC) FILTER (WHERE ec.kind = 'SALE'))[1],
               coalesce(array_agg(DISTINCT CASE WHEN ec.kind IN ('RECEIPT', 'OPENING_STOCK') THEN ec.party_id
                                                WHEN ec.kind IN ('TRANSFER', 'PURCHASE_RETURN')
                                                THEN e.counterparty_id END)
                        FILTER (WHERE ec.kind IN ('RECEIPT', 'OPENING_STOCK', 'TRANSFER', 'PURCHASE_RETURN')),
                        '{}')
        FROM event_codes ec JOIN events e ON e.event_seq = ec.event_seq
        WHERE ec.is_trace
        GROUP BY ec.code
    """)
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("party_id", sa.Text),
        sa.Column("chain_wide", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("cert_subject", sa.Text, unique=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "api_keys", "code_state"):
        op.drop_table(table)
