"""Case work (issue 23): each case's log numbered 1, 2, 3… beside the global order, the officer behind
each log line (name, 执法证号, role), officers bound to API keys, a case's deadline (办理期限), and
attachments stored with their digests.

Revision ID: 0011_case_work
Revises: 0010_named_values
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_case_work"
down_revision = "0010_named_values"
branch_labels = None
depends_on = None

# The log is append-only by trigger: numbering the lines already written needs it off for one statement.
_NUMBER = """
UPDATE case_log l SET case_no = n.no
FROM (SELECT log_seq, row_number() OVER (PARTITION BY case_id ORDER BY log_seq) AS no FROM case_log) n
WHERE n.log_seq = l.log_seq
"""


# During a rolling update the previous release's processes still write log lines without a number
# (the column's default, 0): the database numbers those itself, under a lock per case, so they neither
# read as line 0 nor collide on the unique index.
_NUMBER_MISSING = """
CREATE FUNCTION case_log_number_missing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_no = 0 THEN
        PERFORM pg_advisory_xact_lock(hashtext('case_log:' || NEW.case_id));
        SELECT coalesce(max(case_no), 0) + 1 INTO NEW.case_no FROM case_log WHERE case_id = NEW.case_id;
    END IF;
    RETURN NEW;
END $$
"""
_NUMBER_MISSING_TRIGGER = """
CREATE TRIGGER case_log_number_missing BEFORE INSERT ON case_log
    FOR EACH ROW EXECUTE FUNCTION case_log_number_missing()
"""


def upgrade() -> None:
    op.add_column("case_log", sa.Column("case_no", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.add_column("case_log", sa.Column("actor_name", sa.Text, nullable=False, server_default=""))
    op.add_column("case_log", sa.Column("actor_cert", sa.Text, nullable=False, server_default=""))
    op.execute("ALTER TABLE case_log DISABLE TRIGGER case_log_no_update_delete")
    op.execute(_NUMBER)
    op.execute("ALTER TABLE case_log ENABLE TRIGGER case_log_no_update_delete")
    op.create_index("uq_case_log_case_no", "case_log", ["case_id", "case_no"], unique=True)
    op.execute(_NUMBER_MISSING)
    op.execute(_NUMBER_MISSING_TRIGGER)
    op.add_column("cases", sa.Column("deadline", sa.DateTime(timezone=True)))
    op.create_table(
        "officers",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("cert_no", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "case_attachments",
        sa.Column("attachment_id", sa.Text, primary_key=True),
        sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index("ix_case_attachments_case", "case_id", "added_at"),
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER case_log_number_missing ON case_log")
    op.execute("DROP FUNCTION case_log_number_missing()")
    op.drop_table("case_attachments")
    op.drop_table("officers")
    op.drop_column("cases", "deadline")
    op.drop_index("uq_case_log_case_no", table_name="case_log")
    op.drop_column("case_log", "actor_cert")
    op.drop_column("case_log", "actor_name")
    op.drop_column("case_log", "case_no")
