"""Tables. Alembic migrations (store/migrations) create them; tests/integration/test_schema.py
checks the migrations and this metadata agree.

Events are immutable: rows are inserted, never updated. `event_codes` holds one row
per (event, code, sale line) and is keyed by code first, so all of one code's events
sit together and the rules can shard by code.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

parties = Table(
    "parties",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("region", Text, nullable=False, server_default=""),
    Column("chain_id", Text, nullable=False, server_default=""),
    Column("reports_events", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

licences = Table(
    "licences",
    metadata,
    Column("licence_pk", BigInteger, Identity(), primary_key=True),
    Column("party_id", Text, ForeignKey("parties.party_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("number", Text, nullable=False),
    Column("scope", Text, nullable=False, server_default=""),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    # [[status, effective_from ISO-8601], ...] in effective order
    Column("status_history", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
)

products = Table(
    "products",
    metadata,
    Column("prefix", Text, primary_key=True),
    Column("scheme", Text, nullable=False),
    Column("manufacturer_id", Text, nullable=False, server_default=""),
    Column("name", Text, nullable=False, server_default=""),
    Column("generic_name", Text, nullable=False, server_default=""),
    Column("spec", Text, nullable=False, server_default=""),
    Column("pack_units", Integer, CheckConstraint("pack_units >= 1", name="pack_units_positive"), nullable=False),
    Column("category", Text, nullable=False),
    Column("insurance_code", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_products_insurance_code", "insurance_code"),
    # Rule B (0008): units a day at the highest labelled dose; 0: no supply limit.
    Column(
        "daily_units",
        Integer,
        CheckConstraint("daily_units >= 0", name="daily_units_not_negative"),
        nullable=False,
        server_default=text("0"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("event_seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("party_id", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("document_no", Text, nullable=False, server_default=""),
    Column("counterparty_id", Text, nullable=False, server_default=""),
    Column("sale_id", Text),
    Column("buyer_token", Text),  # keyed hash; the clear insured-person number is never stored
    Column("content_hash", LargeBinary, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("fund_paid_fen", BigInteger, nullable=False, server_default=text("0")),  # a sale's fund paid, derived
    Index("uq_events_sale", "party_id", "sale_id", unique=True, postgresql_where=text("kind = 'SALE'")),
    Index("ix_events_party_time", "party_id", "occurred_at"),
    Index("ix_events_received", "received_at"),
)

event_codes = Table(
    "event_codes",
    metadata,
    Column("code", Text, primary_key=True),
    Column("event_seq", BigInteger, primary_key=True),  # no FK: written only with its event, in one tx
    Column("line_no", SmallInteger, primary_key=True),  # sale line, -1 off sales
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("party_id", Text, nullable=False),
    Column("units", Integer),  # NULL: the whole pack (or, on a refund, all the sale took)
    Column("is_trace", Boolean, nullable=False),
    # Derived at ingest, so SQL reads named values, never the payload by position (issue 20):
    Column("fund_fen", BigInteger, nullable=False, server_default=text("0")),  # a sale code's fund share
    Column("batch", Text),  # a custody event's batch number for the code
)

# -- reconciliation ----------------------------------------------------------------------------
# Which transaction stored a row (pg_current_xact_id() as a number): incremental runs
# re-evaluate what was stored since the last run's snapshot horizon (reconciler/jobs.py).
# BRIN, because it grows with insertion order and costs next to nothing to keep.
INGEST_XID_DEFAULT = "(pg_current_xact_id()::text::bigint)"
for _table in (events, event_codes):
    _table.append_column(Column("ingest_xid", BigInteger, nullable=False, server_default=text(INGEST_XID_DEFAULT)))
    Index(f"ix_{_table.name}_ingest_xid", _table.c.ingest_xid, postgresql_using="brin")

commissioned_products = Table(
    "commissioned_products",
    metadata,
    Column("prefix", Text, primary_key=True),  # the maker's list for this product is loaded
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

commissioned_codes = Table(
    "commissioned_codes",
    metadata,
    Column("code", Text, primary_key=True),
    Column("prefix", Text, nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("flag_seq", BigInteger, Identity(), nullable=False, unique=True),  # stable paging order
    Column("flag_id", Text, primary_key=True),  # hash of the identity (rule, kind, decisive event, code)
    Column("rule", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("decisive_event_id", Text, nullable=False),
    Column("decisive_at", DateTime(timezone=True), nullable=False),
    Column("subject_party", Text, nullable=False),
    Column("subject_region", Text, nullable=False, server_default=""),
    Column("related_parties", ARRAY(Text), nullable=False),
    Column("evidence", ARRAY(Text), nullable=False),
    Column("money_fen", BigInteger, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("content_hash", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),  # OPEN, CONFIRMED, DISMISSED, RESOLVED
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("detected_run", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_reason", Text),
    Column("reviewed_by", Text),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("review_note", Text),
    Index("uq_flags_identity", "rule", "kind", "decisive_event_id", "code", unique=True),
    Index("ix_flags_code", "code"),
    Index("ix_flags_decisive_event", "decisive_event_id"),
    Index("ix_flags_subject", "subject_party"),
    Index("ix_flags_status_rule", "status", "rule", "kind"),
)

return_chains = Table(
    "return_chains",
    metadata,
    Column("flag_id", Text, primary_key=True),  # one chain per R or D CROSS_PARTY flag
    Column("code", Text, nullable=False, index=True),
    Column("active", Boolean, nullable=False),  # follows its flag: false once resolved
    Column("originals", JSONB, nullable=False),
    Column("reentry", JSONB),
    Column("resales", JSONB, nullable=False),
    Column("buyer_tokens", ARRAY(Text), nullable=False),
    Column("original_sellers", ARRAY(Text), nullable=False),
    Column("reentry_party", Text),
    Column("reentry_supplier", Text),
    Column("resale_parties", ARRAY(Text), nullable=False),
    Column("money_fen", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("run_id", BigInteger, Identity(), primary_key=True),
    Column("mode", Text, nullable=False),  # FULL | INCREMENTAL
    Column("engine", Text, nullable=False, server_default=text("'IN_PROCESS'")),  # IN_PROCESS | SPARK
    Column("status", Text, nullable=False),  # RUNNING | DONE | FAILED
    Column("window_from", DateTime(timezone=True)),
    Column("window_to", DateTime(timezone=True)),
    Column("xid_from", BigInteger),  # incremental: rows stored by transactions from here on
    Column("xid_to", BigInteger, nullable=False),  # every transaction below this had ended at the start
    Column("code_cursor", Text, nullable=False, server_default=""),  # last code done, to resume
    Column("sale_cursor", BigInteger, nullable=False, server_default=text("0")),  # last sale event_seq done
    Column("codes_total", BigInteger, nullable=False, server_default=text("0")),
    Column("codes_done", BigInteger, nullable=False, server_default=text("0")),
    Column("sales_done", BigInteger, nullable=False, server_default=text("0")),
    Column("flags_new", BigInteger, nullable=False, server_default=text("0")),
    Column("flags_resolved", BigInteger, nullable=False, server_default=text("0")),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
)

# -- rule B, buyer anomalies (migration 0008) ----------------------------------------------------
# B shards by buyer token: a run loads one token's sales, and the refunds that name them.
Index(
    "ix_events_buyer_token",
    events.c.buyer_token,
    events.c.occurred_at,
    postgresql_where=text("kind = 'SALE' AND buyer_token IS NOT NULL"),
)
Index("ix_events_refunded_sale", events.c.party_id, events.c.sale_id, postgresql_where=text("kind = 'SALE_RETURN'"))
flags.append_column(Column("buyer_token", Text))  # rule B: the keyed hash, never the clear number
Index("ix_flags_buyer_token", flags.c.buyer_token, postgresql_where=text("buyer_token IS NOT NULL"))
# -- national findings imported into a province (migration 0012) ----------------------------------
# origin: LOCAL (this database's runs) or NATIONAL (`reconciler import-findings`); an imported flag keeps
# the national updated_at it was imported at (never rolled back by an older day) and the national run.
flags.append_column(Column("origin", Text, nullable=False, server_default="LOCAL"))
flags.append_constraint(CheckConstraint("origin IN ('LOCAL', 'NATIONAL')", name="ck_flags_origin"))
flags.append_column(Column("national_updated_at", DateTime(timezone=True)))
flags.append_column(Column("national_run", BigInteger))
for _column in (
    Column("buyer_cursor", Text, nullable=False, server_default=""),  # last buyer token done, to resume
    Column("buyers_done", BigInteger, nullable=False, server_default=text("0")),
    Column("rule_params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # B's parameters, recorded
):
    reconcile_runs.append_column(_column)

# -- verification, access, audit ---------------------------------------------------------------
# Per-code current state for VerifyCodes, kept in the ingest transaction. Counters only, so
# the state is the same whatever order the events arrived in.
code_state = Table(
    "code_state",
    metadata,
    Column("code", Text, primary_key=True),
    Column("sold_whole", Integer, nullable=False, server_default=text("0")),  # whole-pack sales
    Column("sold_units", BigInteger, nullable=False, server_default=text("0")),  # units of split sales
    Column("returned_whole", Integer, nullable=False, server_default=text("0")),
    Column("returned_units", BigInteger, nullable=False, server_default=text("0")),
    Column("last_sale_at", DateTime(timezone=True)),
    Column("last_sale_party", Text),
    Column("holders", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # parties that took it in
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("secret_hash", LargeBinary, nullable=False),  # SHA-256 of the random secret; the key is never stored
    Column("role", Text, nullable=False),  # POS, SUPPLIER, REGULATOR, INSPECTOR
    Column("party_id", Text),  # POS and SUPPLIER: the party they act for
    Column("chain_wide", Boolean, nullable=False, server_default=text("false")),  # POS: the party's whole chain
    Column("cert_subject", Text, unique=True),  # mTLS: the client certificate's subject CN that maps here
    Column("name", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("key_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("target", Text, nullable=False),  # what was read: flag id, code, party, buyer token
    Column("detail", Text, nullable=False, server_default=""),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target"),  # a flag's review history, a case's reads
)

# -- intake (issue 11) --------------------------------------------------------------------------
# EPCIS names parties by GLN (PGLN of a party, SGLN of a location): the registry maps each to a party.
party_glns = Table(
    "party_glns",
    metadata,
    Column("gln", Text, primary_key=True),  # 13 digits
    Column("party_id", Text, ForeignKey("parties.party_id", ondelete="CASCADE"), nullable=False, index=True),
)

# Foreign events that change no custody, kept as evidence: EPCIS decommissioning, and retractions
# (an errorDeclaration): a retracted event stays stored but takes no part in the rules.
intake_evidence = Table(
    "intake_evidence",
    metadata,
    Column("evidence_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # DECOMMISSIONING | RETRACTION
    Column("party_id", Text, nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("target_event_id", Text, nullable=False, server_default=""),  # RETRACTION: the retracted event
    Column("codes", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("reason", Text, nullable=False, server_default=""),
    Column("payload", JSONB, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("ingest_xid", BigInteger, nullable=False, server_default=text(INGEST_XID_DEFAULT)),
    Index("ix_intake_evidence_target", "target_event_id"),
)

# NHSA row serials (fixmedins_bchno) of stored events, by the data type of their upload: what a 3507
# deletion names. An event may carry several (the rows of one sale), a serial several events.
nhsa_rows = Table(
    "nhsa_rows",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("data_type", Text, primary_key=True),  # inv_data_type: 1 stock count, 2 stock change, 3 purchase, 4 sale
    Column("serial", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
)

# EPCIS capture jobs: POST /epcis/capture answers 202 with their id; GET gives the per-event results.
epcis_captures = Table(
    "epcis_captures",
    metadata,
    Column("capture_id", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("success", Boolean),
    Column("results", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)
# -- enforcement cases (issue 16) --------------------------------------------------------------
cases = Table(
    "cases",
    metadata,
    Column("case_seq", BigInteger, Identity(), nullable=False, unique=True),  # stable paging order
    Column("case_id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("subject_parties", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("region", Text, nullable=False, server_default=""),
    Column("assignee", Text, nullable=False, server_default=""),
    # OPEN, INVESTIGATING, ESCALATED, CLOSED_CONFIRMED, CLOSED_DISMISSED; changed only with a case_log line
    Column("status", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deadline", DateTime(timezone=True)),  # 办理期限; none: no deadline set
    Index("ix_cases_status", "status"),
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", Text, ForeignKey("cases.case_id"), primary_key=True),
    Column("kind", Text, primary_key=True),  # FLAG, CHAIN, CODE, BUYER (a keyed token, never a number)
    Column("ref", Text, primary_key=True),
    Column("added_by", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A flag sits in one case at most, so it can show its case.
    Index("uq_case_members_flag", "ref", unique=True, postgresql_where=text("kind = 'FLAG'")),
    Index("ix_case_members_ref", "kind", "ref"),
)

case_log = Table(
    "case_log",
    metadata,
    Column("log_seq", BigInteger, Identity(), primary_key=True),
    Column("case_id", Text, ForeignKey("cases.case_id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")),
    Column("actor", Text, nullable=False),  # key id
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),  # CREATED, STATUS, ADDED, REMOVED, EXPORTED
    Column("from_status", Text),
    Column("to_status", Text),
    Column("reason", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    # The line's number within its case (1, 2, 3…); log_seq keeps the global order.
    Column("case_no", Integer, nullable=False, server_default=text("0")),
    # The officer behind the key when the line was written (name, 执法证号): fixed with the line.
    Column("actor_name", Text, nullable=False, server_default=""),
    Column("actor_cert", Text, nullable=False, server_default=""),
    Index("ix_case_log_case", "case_id", "log_seq"),
    Index("uq_case_log_case_no", "case_id", "case_no", unique=True),
)

# Officers (issue 23): the person behind an inspector's or regulator's key, as a case log names them.
officers = Table(
    "officers",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("cert_no", Text, nullable=False),  # 执法证号
    Column("title", Text, nullable=False, server_default=""),  # e.g. 承办人, 审核人
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Attachments of a case (现场检查笔录, photos, scans): stored whole, with their SHA-256.
case_attachments = Table(
    "case_attachments",
    metadata,
    Column("attachment_id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.case_id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("media_type", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_case_attachments_case", "case_id", "added_at"),
)

# The case log is append-only in the database itself, not just by convention: any UPDATE,
# DELETE or TRUNCATE raises, whoever connects (a trigger, which a table owner cannot bypass
# by accident the way it could a revoked privilege).
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
for _ddl in CASE_LOG_APPEND_ONLY_DDL:
    event.listen(case_log, "after_create", DDL(_ddl))
