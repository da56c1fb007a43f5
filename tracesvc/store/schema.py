"""Tables. Alembic migrations (store/migrations) create them; tests/test_schema.py
checks the migrations and this metadata agree.

Events are immutable: rows are inserted, never updated. `event_codes` holds one row
per (event, code, sale line) and is keyed by code first, so all of one code's events
sit together and the rules can shard by code.
"""

from __future__ import annotations

from sqlalchemy import (
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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

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
)
