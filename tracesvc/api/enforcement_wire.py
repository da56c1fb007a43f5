"""Flags, chains, histories and evidence items on the wire (EnforcementService and ExportEvidence)."""

from __future__ import annotations

from reconciler.rules.model import ChainSale
from reconciler.store.findings import FLAG_STATUSES, FlagFilter
from tracesvc.api import convert
from tracesvc.client.wire import to_datetime, to_timestamp
from tracesvc.documents import wording
from tracesvc.domain.events import Event, Violation
from tracesvc.domain.registry import Party, Product
from tracesvc.service.enforcement import EvidenceItem, Purchase, Standing, Travel
from tracesvc.service.errors import InvalidArgument
from tracesvc.store.findings import ChainRow, FlagRow
from tracesvc.store.history import HistoryRow, PartySummary
from tracesvc.v1 import enforcement_pb2 as pb

STATUS_NAME = {pb.FlagStatus.Value(f"FLAG_STATUS_{s}"): s for s in FLAG_STATUSES}  # wire value -> status


def flag_to_proto(r: FlagRow) -> pb.Flag:
    out = pb.Flag(
        flag_id=r.flag_id,
        rule=r.rule,
        kind=r.kind,
        severity=f"SEVERITY_{r.severity}",
        code=r.code,
        decisive_event_id=r.decisive_event_id,
        decisive_at=to_timestamp(r.decisive_at),
        subject_party=r.subject_party,
        subject_region=r.subject_region,
        related_parties=r.related_parties,
        evidence_event_ids=r.evidence,
        money_fen=r.money_fen,
        detail=r.detail,
        status=f"FLAG_STATUS_{r.status}",
        detected_at=to_timestamp(r.detected_at),
        detected_run=r.detected_run,
        resolved_reason=r.resolved_reason,
        reviewed_by=r.reviewed_by,
        review_note=r.review_note,
        buyer_token=r.buyer_token,
        summary=wording.summary(r.rule, r.kind, r.detail),
        origin=r.origin,
    )
    if r.resolved_at:
        out.resolved_at.CopyFrom(to_timestamp(r.resolved_at))
    if r.reviewed_at:
        out.reviewed_at.CopyFrom(to_timestamp(r.reviewed_at))
    return out


def _chain_sale(s: ChainSale) -> pb.ChainSale:
    return pb.ChainSale(
        event_id=s.event_id,
        party_id=s.party_id,
        occurred_at=to_timestamp(s.occurred_at),
        buyer_token=s.buyer_token,
        fund_paid_fen=s.fund_paid_fen,
        units=s.units,
    )


def chain_to_proto(r: ChainRow) -> pb.ReturnChain:
    out = pb.ReturnChain(
        flag_id=r.flag_id,
        code=r.code,
        active=r.active,
        money_fen=r.money_fen,
        originals=[_chain_sale(s) for s in r.originals],
        resales=[_chain_sale(s) for s in r.resales],
    )
    if r.reentry is not None:
        e = r.reentry
        out.reentry.CopyFrom(
            pb.ChainEntry(
                event_id=e.event_id,
                kind=e.kind.value,
                party_id=e.party_id,
                supplier_id=e.supplier_id,
                occurred_at=to_timestamp(e.occurred_at),
            )
        )
    return out


def party_ref(party_id: str, parties: dict[str, PartySummary]) -> pb.PartyRef:
    p = parties.get(party_id)
    if p is None:
        return pb.PartyRef(party_id=party_id)
    return pb.PartyRef(party_id=party_id, name=p.name, region=p.region, kind=p.kind)


def history_entry(r: HistoryRow, parties: dict[str, PartySummary]) -> pb.HistoryEntry:
    return pb.HistoryEntry(
        event_id=r.event_id,
        kind=r.kind.value,
        occurred_at=to_timestamp(r.occurred_at),
        received_at=to_timestamp(r.received_at),
        party=party_ref(r.party_id, parties),
        counterparty=party_ref(r.counterparty_id, parties) if r.counterparty_id else None,
        units=r.units or 0,
        whole_pack=r.units is None,
        document_no=r.document_no,
        sale_id=r.sale_id,
        buyer_token=r.buyer_token,
    )


def _where(p: PartySummary) -> pb.PartyRef:
    return pb.PartyRef(party_id=p.party_id, name=p.name, region=p.region, kind=p.kind)


def purchase_to_proto(p: Purchase) -> pb.BuyerPurchase:
    sale = p.sale
    return pb.BuyerPurchase(
        flag_id=p.flag_id,
        buyer_token=p.buyer_token,
        event_id=sale.event_id,
        sale_id=sale.sale_id,
        occurred_at=to_timestamp(sale.occurred_at),
        party=_where(p.party),
        lines=[
            pb.PurchaseLine(
                insurance_code=ln.insurance_code,
                item_name=ln.item_name,
                split=ln.split,
                quantity=ln.quantity,
                amount_fen=ln.amount_fen,
                fund_paid_fen=ln.fund_paid_fen,
            )
            for ln in sale.lines
        ],
        amount_fen=sum(ln.amount_fen for ln in sale.lines),
        fund_paid_fen=sum(ln.fund_paid_fen for ln in sale.lines),
        refunded=p.refunded,
        evidence=p.evidence,
        decisive=p.decisive,
    )


def travel_to_proto(t: Travel) -> pb.CardTravel:
    return pb.CardTravel(
        flag_id=t.flag_id,
        buyer_token=t.buyer_token,
        earlier_event_id=t.earlier.event_id,
        earlier_at=to_timestamp(t.earlier.occurred_at),
        earlier_party=_where(t.earlier_party),
        later_event_id=t.later.event_id,
        later_at=to_timestamp(t.later.occurred_at),
        later_party=_where(t.later_party),
        seconds_between=t.seconds_between,
    )


def evidence_to_proto(item: EvidenceItem) -> pb.ExportEvidenceResponse:
    match item:
        case FlagRow():
            return pb.ExportEvidenceResponse(flag=flag_to_proto(item))
        case ChainRow():
            return pb.ExportEvidenceResponse(chain=chain_to_proto(item))
        case Purchase():
            return pb.ExportEvidenceResponse(purchase=purchase_to_proto(item))
        case Travel():
            return pb.ExportEvidenceResponse(travel=travel_to_proto(item))
        case Event():
            return pb.ExportEvidenceResponse(event=convert.event_to_proto(item))
        case Party():
            return pb.ExportEvidenceResponse(party=convert.party_to_proto(item))
        case Standing():
            return pb.ExportEvidenceResponse(
                standing=pb.PartyStanding(
                    party_id=item.party_id,
                    at=to_timestamp(item.at),
                    event_id=item.event_id,
                    licensed=item.licensed,
                    licence_status=item.licence_status,
                )
            )
        case Product():
            return pb.ExportEvidenceResponse(product=convert.product_to_proto(item))
    raise TypeError(f"not an evidence item: {type(item).__name__}")


def flag_filter(f: pb.ListFlagsRequest, field: str = "statuses") -> FlagFilter:
    """A ListFlags filter as the use cases take it; an unknown status names `field`."""
    bad = [s for s in f.statuses if s not in STATUS_NAME]
    if bad:
        raise InvalidArgument("unknown status", [Violation(field, f"unknown value {bad[0]}")])
    return FlagFilter(
        rule=f.rule.strip().upper(),
        kind=f.kind.strip().upper(),
        party_id=f.party_id.strip(),
        region=f.region.strip(),
        occurred_from=to_datetime(f.occurred_from) if f.HasField("occurred_from") else None,
        occurred_to=to_datetime(f.occurred_to) if f.HasField("occurred_to") else None,
        statuses=tuple(STATUS_NAME[s] for s in f.statuses),
        code=f.code.strip(),
        buyer_token=f.buyer_token.strip().lower(),
        case_id=f.case_id.strip(),
    )
