"""Named values instead of positions in the payload: a sale's fund paid on `events`, each code's share
of its line's fund paid and its batch on `event_codes`, written at ingest and filled here for the rows
stored before. Payloads and their content hashes are untouched (old events stay DUPLICATE on a re-send).
Beside them: the index a flag's review history reads, and the table of NHSA row serials a 3507
deletion names.

Revision ID: 0010_named_values
Revises: 0009_run_engine
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_named_values"
down_revision = "0009_run_engine"
branch_labels = None
depends_on = None

# The positions the reconciler's SQL read until now: a stored sale line is
# [insurance_code, item_name, split, quantity, amount_fen, fund_paid_fen, scans], a scan
# [code, units, is_trace], an item [code, batch, expiry, source_document].
_SALE_FUND = """
UPDATE events e SET fund_paid_fen = (
    SELECT coalesce(sum((l ->> 5)::bigint), 0) FROM jsonb_array_elements(e.payload -> 'lines') l)
WHERE e.kind = 'SALE'
"""
_CODE_FUND = """
UPDATE event_codes ec SET fund_fen = coalesce(
    (e.payload #>> ARRAY['lines', ec.line_no::text, '5'])::bigint
    * (SELECT count(*) FROM jsonb_array_elements(e.payload #> ARRAY['lines', ec.line_no::text, '6']) s
       WHERE s ->> 0 = ec.code)
    / greatest(1, jsonb_array_length(e.payload #> ARRAY['lines', ec.line_no::text, '6'])), 0)
FROM events e
WHERE e.event_seq = ec.event_seq AND e.kind = 'SALE' AND ec.line_no >= 0
"""
_BATCH = """
UPDATE event_codes ec SET batch = (
    SELECT item ->> 1 FROM jsonb_array_elements(e.payload -> 'items') item
    WHERE item ->> 0 = ec.code AND coalesce(item ->> 1, '') <> '' LIMIT 1)
FROM events e
WHERE e.event_seq = ec.event_seq AND e.payload ? 'items'
"""


def upgrade() -> None:
    op.add_column("events", sa.Column("fund_paid_fen", sa.BigInteger, nullable=False, server_default=sa.text("0")))
    op.add_column("event_codes", sa.Column("fund_fen", sa.BigInteger, nullable=False, server_default=sa.text("0")))
    op.add_column("event_codes", sa.Column("batch", sa.Text))
    op.execute(_SALE_FUND)
    op.execute(_CODE_FUND)
    op.execute(_BATCH)
    # A flag's review history is read from its audit lines (every review path writes one now).
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    # The NHSA row serials of stored events, which a 3507 deletion names.
    op.create_table(
        "nhsa_rows",
        sa.Column("party_id", sa.Text, primary_key=True),
        sa.Column("data_type", sa.Text, primary_key=True),
        sa.Column("serial", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("nhsa_rows")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_column("event_codes", "batch")
    op.drop_column("event_codes", "fund_fen")
    op.drop_column("events", "fund_paid_fen")
