"""National findings back in the provinces (issue 24): where a flag came from — this database's own
runs (LOCAL) or the national daily run's findings imported with `reconciler import-findings`
(NATIONAL) — and, for an imported flag, the national `updated_at` it was imported at, so importing
an older day after a newer one never rolls it back.

`detected_run` stays NOT NULL (no foreign key names reconcile_runs): an imported flag records 0 there —
no run of this database detected it — and the national run in `national_run`.

Revision ID: 0012_national_flags
Revises: 0011_case_work
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_national_flags"
down_revision = "0011_case_work"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("flags", sa.Column("origin", sa.Text, nullable=False, server_default="LOCAL"))
    op.create_check_constraint("ck_flags_origin", "flags", "origin IN ('LOCAL', 'NATIONAL')")
    op.add_column("flags", sa.Column("national_updated_at", sa.DateTime(timezone=True)))
    op.add_column("flags", sa.Column("national_run", sa.BigInteger))


def downgrade() -> None:
    op.drop_column("flags", "national_run")
    op.drop_column("flags", "national_updated_at")
    op.drop_constraint("ck_flags_origin", "flags")
    op.drop_column("flags", "origin")
