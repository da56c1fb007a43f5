"""Proto <-> domain conversion. Structural problems (a missing timestamp, an unknown
enum) become field violations here; semantic validation is the domain's."""

from __future__ import annotations

from typing import Any

from tracesvc.client.wire import to_datetime, to_timestamp
from tracesvc.domain import hygiene, privacy
from tracesvc.domain.codes import CodeScheme
from tracesvc.domain.events import (
    COUNTERPARTY_FIELD,
    Draft,
    Event,
    EventKind,
    Item,
    ReturnedCode,
    SaleLine,
    Scan,
    Violation,
)
from tracesvc.domain.registry import Category, Licence, LicenceStatus, Party, PartyKind, Product
from tracesvc.v1 import events_pb2 as ev_pb
from tracesvc.v1 import registry_pb2 as reg_pb

# Event oneof field name <-> kind
ONEOF_KIND = {
    "receipt": EventKind.RECEIPT,
    "shipment": EventKind.SHIPMENT,
    "transfer": EventKind.TRANSFER,
    "purchase_return": EventKind.PURCHASE_RETURN,
    "opening_stock": EventKind.OPENING_STOCK,
    "sale": EventKind.SALE,
    "sale_return": EventKind.SALE_RETURN,
}
KIND_ONEOF = {v: k for k, v in ONEOF_KIND.items()}


# -- events -----------------------------------------------------------------------------------


def event_from_proto(kind: EventKind, msg: Any, hmac_key: bytes) -> Draft:
    """A draft event from its kind message; returns structural violations beside it."""
    violations: list[Violation] = []
    h = msg.header
    # A missing timestamp stays None: normalize_event reports it with the other violations.
    # One out of years 1-9999 is refused here, before any conversion could overflow.
    occurred = None
    if msg.HasField("header") and h.HasField("occurred_at"):
        problem = hygiene.timestamp_problem(h.occurred_at.seconds, h.occurred_at.nanos)
        if problem is None:
            occurred = to_datetime(h.occurred_at)
        else:
            violations.append(Violation("header.occurred_at", problem))
    extra: dict = {}
    if kind is EventKind.SALE:
        token = ""
        buyer_problem = hygiene.text_problem(msg.buyer_id, hygiene.SHORT)
        if buyer_problem is not None:
            violations.append(Violation("buyer_id", buyer_problem))
        elif msg.buyer_id.strip():
            token = privacy.buyer_token(hmac_key, msg.buyer_id)
        elif msg.buyer_token:
            token = msg.buyer_token.strip().lower()[: hygiene.SHORT.max_len + 1]
            if not privacy.is_token(token):
                violations.append(Violation("buyer_token", "must be a 64-hex-digit token as tracesvc exports it"))
        extra["sale_id"] = msg.sale_id
        extra["buyer_token"] = token
        extra["lines"] = tuple(
            SaleLine(
                insurance_code=ln.insurance_code,
                item_name=ln.item_name,
                split=ln.split,
                quantity=ln.quantity,
                amount_fen=ln.amount_fen,
                fund_paid_fen=ln.fund_paid_fen,
                scans=tuple(Scan(s.code, s.units if s.HasField("units") else None) for s in ln.scanned),
            )
            for ln in msg.lines
        )
    elif kind is EventKind.SALE_RETURN:
        extra["sale_id"] = msg.sale_id
        extra["returned"] = tuple(ReturnedCode(c.code, c.units if c.HasField("units") else None) for c in msg.codes)
    else:
        cp_field = COUNTERPARTY_FIELD.get(kind)
        extra["counterparty_id"] = getattr(msg, cp_field).strip() if cp_field else ""
        extra["items"] = tuple(Item(i.code, i.batch, i.expiry, i.source_document) for i in msg.items)
    draft = Event(
        event_id=h.event_id.strip(),
        kind=kind,
        party_id=h.party_id.strip(),
        occurred_at=occurred,  # type: ignore[arg-type]  # None only in a draft that will be rejected
        document_no=h.document_no.strip(),
        **extra,
    )
    return Draft(draft, violations)


def event_to_proto(ev: Event) -> ev_pb.Event:
    """A stored event as the wire/NDJSON `Event` (the buyer as its token, never in the clear)."""
    header = ev_pb.EventHeader(
        event_id=ev.event_id, party_id=ev.party_id, occurred_at=to_timestamp(ev.occurred_at), document_no=ev.document_no
    )
    out = ev_pb.Event()
    body = getattr(out, KIND_ONEOF[ev.kind])
    body.header.CopyFrom(header)
    if ev.kind is EventKind.SALE:
        body.sale_id = ev.sale_id
        body.buyer_token = ev.buyer_token
        for ln in ev.lines:
            line = body.lines.add(
                insurance_code=ln.insurance_code,
                item_name=ln.item_name,
                split=ln.split,
                quantity=ln.quantity,
                amount_fen=ln.amount_fen,
                fund_paid_fen=ln.fund_paid_fen,
            )
            for s in ln.scans:
                sc = line.scanned.add(code=s.code)
                if s.units is not None:
                    sc.units = s.units
    elif ev.kind is EventKind.SALE_RETURN:
        body.sale_id = ev.sale_id
        for r in ev.returned:
            rc = body.codes.add(code=r.code)
            if r.units is not None:
                rc.units = r.units
    else:
        cp_field = COUNTERPARTY_FIELD.get(ev.kind)
        if cp_field:
            setattr(body, cp_field, ev.counterparty_id)
        for i in ev.items:
            body.items.add(code=i.code, batch=i.batch, expiry=i.expiry, source_document=i.source_document)
    return out


# -- registry ---------------------------------------------------------------------------------


def _enum_name(enum_type, value: int, prefix: str) -> str | None:
    if value == 0:
        return None
    try:
        return enum_type.Name(value).removeprefix(prefix)
    except ValueError:
        return None


def party_from_proto(p: reg_pb.Party) -> tuple[Party | None, list[Violation]]:
    violations: list[Violation] = []
    kind = _enum_name(reg_pb.PartyKind, p.kind, "PARTY_KIND_")
    if kind is None:
        violations.append(Violation("kind", "required: MANUFACTURER, WHOLESALER, PHARMACY, CHAIN_HQ or HOSPITAL"))
    lics = []
    for n, lic in enumerate(p.licences):
        if not lic.HasField("valid_from"):
            violations.append(Violation(f"licences[{n}].valid_from", "required"))
            continue
        history = []
        for m, ch in enumerate(lic.status_history):
            st = _enum_name(reg_pb.LicenceStatus, ch.status, "LICENCE_STATUS_")
            if st is None or not ch.HasField("effective_from"):
                violations.append(Violation(f"licences[{n}].status_history[{m}]", "status and effective_from required"))
                continue
            history.append((LicenceStatus(st), to_datetime(ch.effective_from)))
        lics.append(
            Licence(
                number=lic.number.strip(),
                scope=lic.scope,
                valid_from=to_datetime(lic.valid_from),
                valid_to=to_datetime(lic.valid_to) if lic.HasField("valid_to") else None,
                status_history=tuple(history),
            )
        )
    if violations or kind is None:
        return None, violations
    return Party(
        party_id=p.party_id.strip(),
        kind=PartyKind(kind),
        name=p.name,
        region=p.region.strip(),
        chain_id=p.chain_id.strip(),
        licences=tuple(lics),
        reports_events=p.reports_events,
        glns=tuple(dict.fromkeys(g.strip() for g in p.glns if g.strip())),
    ), []


def party_to_proto(p: Party) -> reg_pb.Party:
    out = reg_pb.Party(
        party_id=p.party_id,
        kind=f"PARTY_KIND_{p.kind.value}",
        name=p.name,
        region=p.region,
        chain_id=p.chain_id,
        reports_events=p.reports_events,
        glns=list(p.glns),
    )
    for lic in p.licences:
        pl = out.licences.add(number=lic.number, scope=lic.scope, valid_from=to_timestamp(lic.valid_from))
        if lic.valid_to is not None:
            pl.valid_to.CopyFrom(to_timestamp(lic.valid_to))
        for st, since in lic.status_history:
            pl.status_history.add(status=f"LICENCE_STATUS_{st.value}", effective_from=to_timestamp(since))
    return out


def product_from_proto(p: reg_pb.Product) -> tuple[Product | None, list[Violation]]:
    violations: list[Violation] = []
    scheme = _enum_name(reg_pb.CodeScheme, p.scheme, "CODE_SCHEME_")
    category = _enum_name(reg_pb.ProductCategory, p.category, "PRODUCT_CATEGORY_")
    if scheme is None:
        violations.append(Violation("scheme", "required: MSFX, GS1 or MANUFACTURER"))
    if category is None:
        violations.append(Violation("category", "required"))
    if violations or scheme is None or category is None:
        return None, violations
    prefix = p.prefix.strip()
    return Product(
        prefix=prefix.upper() if scheme == "MANUFACTURER" else prefix,
        scheme=CodeScheme(scheme),
        pack_units=p.pack_units,
        category=Category(category),
        manufacturer_id=p.manufacturer_id.strip(),
        name=p.name,
        generic_name=p.generic_name,
        spec=p.spec,
        insurance_code=p.insurance_code.strip(),
        daily_units=p.daily_units,
    ), []


def product_to_proto(p: Product) -> reg_pb.Product:
    return reg_pb.Product(
        prefix=p.prefix,
        scheme=f"CODE_SCHEME_{p.scheme.value}",
        manufacturer_id=p.manufacturer_id,
        name=p.name,
        generic_name=p.generic_name,
        spec=p.spec,
        pack_units=p.pack_units,
        category=f"PRODUCT_CATEGORY_{p.category.value}",
        insurance_code=p.insurance_code,
        daily_units=p.daily_units,
    )
