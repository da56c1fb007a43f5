"""Which engine a reconciliation run uses: the in-process batches or Spark.

Revision ID: 0009_run_engine
Revises: 0008_buyer_rule
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_run_engine"
down_revision = "0008_buyer_rule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing runs were all in-process: the default records that without a rewrite of old rows.
    op.add_column(
        "reconcile_runs", sa.Column("engine", sa.Text, nullable=False, server_default=sa.text("'IN_PROCESS'"))
    )


def downgrade() -> None:
    op.drop_column("reconcile_runs", "engine")
