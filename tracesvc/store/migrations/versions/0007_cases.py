"""Enforcement cases: cases, their members, and the append-only case log.

Revision ID: 0007_cases
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0007_cases"
down_revision = "0006_party_gln"
branch_labels = None
depends_on = None

# Frozen copies of tracesvc.store.schema.CASE_LOG_APPEND_ONLY_*: a migration never follows later edits.
CASE_LOG_APPEND_ONLY_DDL = (
    """CREATE FUNCTION case_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'case_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER case_log_no_update_delete BEFORE UPDATE OR DELETE ON case_log
       FOR EACH ROW EXECUTE FUNCTION case_log_append_only()""",
    """CREATE TRIGGER case_log_no_truncate BEFORE TRUNCATE ON case_log
       FOR EACH STATEMENT EXECUTE FUNCTION case_log_append_only()""",
)
CASE_LOG_APPEND_ONLY_DROP = (
    "DROP TRIGGER IF EXISTS case_log_no_truncate ON case_log",
    "DROP TRIGGER IF EXISTS case_log_no_update_delete ON case_log",
    "DROP FUNCTION IF EXISTS case_log_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("case_id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("subject_parties", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("region", sa.Text, nullable=False, server_default=""),
        sa.Column("assignee", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("ref", sa.Text, primary_key=True),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "uq_case_members_flag", "case_members", ["ref"], unique=True, postgresql_where=sa.text("kind = 'FLAG'")
    )
    op.create_index("ix_case_members_ref", "case_members", ["kind", "ref"])
    op.create_table(
        "case_log",
        sa.Column("log_seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_case_log_case", "case_log", ["case_id", "log_seq"])
    for statement in CASE_LOG_APPEND_ONLY_DDL:
        op.execute(statement)


def downgrade() -> None:
    for statement in CASE_LOG_APPEND_ONLY_DROP:
        op.execute(statement)
    for table in ("case_log", "case_members", "cases"):
        op.drop_table(table)
