"""Rules D (repeated sale), L (no legal purchase source) and R (return-drug re-entry).

All three walk one code's events in (occurred_at, event_id) order, so the findings
depend on what happened, never on the order events arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.rules.model import (
    ChainEntry,
    ChainSale,
    CodeEvent,
    CodeFindings,
    Finding,
    Reference,
    ReturnChain,
    Rule,
    Severity,
    bilingual,
)
from tracesvc.domain.events import EventKind
from tracesvc.domain.registry import PartyKind

SALE, SALE_RETURN = EventKind.SALE, EventKind.SALE_RETURN
_REENTRY_KINDS = (EventKind.RECEIPT, EventKind.TRANSFER, EventKind.PURCHASE_RETURN, EventKind.OPENING_STOCK)
_SUPPLIER_KINDS = (PartyKind.WHOLESALER, PartyKind.MANUFACTURER)


def evaluate_code(code: str, events: Iterable[CodeEvent], ref: Reference, skew: timedelta) -> CodeFindings:
    """Every D, L and R finding of one trace code, with the return chains behind R and D."""
    ordered = sorted(events, key=lambda e: e.order)
    pack = _pack_units(code, ordered, ref)
    out = CodeFindings()
    cins = custody_ins(ordered)  # L and R judge the same custody-ins
    _repeated_sales(code, ordered, pack, out)
    _legal_source(code, ordered, cins, ref, skew=skew, out=out)
    _reentries(code, ordered, cins, pack, skew=skew, out=out)
    return out


def _pack_units(code: str, events: Sequence[CodeEvent], ref: Reference) -> int:
    product = ref.product_of(code)
    if product is not None:
        return product.pack_units
    # Unknown product (rule S flags it): take the pack as the most any one sale took.
    return max([1] + [e.units for e in events if e.kind is SALE and e.units])


def _units(ev: CodeEvent, pack: int) -> int:
    return pack if ev.units is None else ev.units


@dataclass
class _OpenSale:
    event: CodeEvent
    units: int  # still out with the consumer


def _chain_sale(s: _OpenSale | CodeEvent, pack: int) -> ChainSale:
    ev = s.event if isinstance(s, _OpenSale) else s
    units = s.units if isinstance(s, _OpenSale) else _units(s, pack)
    return ChainSale(ev.event_id, ev.party_id, ev.occurred_at, ev.buyer_token, ev.fund_paid_fen, units)


# -- D ------------------------------------------------------------------------------------------


def _repeated_sales(code: str, events: Sequence[CodeEvent], pack: int, out: CodeFindings) -> None:
    """A sale that lifts the units out with consumers above the pack size is a repeated sale."""
    open_sales: dict[tuple[str, str], _OpenSale] = {}
    for ev in events:
        if ev.kind is SALE_RETURN:
            sale = open_sales.get((ev.party_id, ev.sale_id))
            if sale is not None:
                sale.units -= sale.units if ev.units is None else min(ev.units, sale.units)
            continue
        if ev.kind is not SALE:
            continue
        units = _units(ev, pack)
        still_out = [s for s in open_sales.values() if s.units > 0]
        before = sum(s.units for s in still_out)
        if before + units > pack:
            others = [s for s in still_out if s.event.party_id != ev.party_id]
            kind, severity = ("CROSS_PARTY", Severity.HIGH) if others else ("SAME_PARTY", Severity.MEDIUM)
            finding = Finding(
                Rule.D,
                kind,
                severity,
                code,
                ev.event_id,
                ev.occurred_at,
                ev.party_id,
                related_parties=tuple(sorted({s.event.party_id for s in others})),
                evidence=tuple(s.event.event_id for s in still_out) + (ev.event_id,),
                money_fen=ev.fund_paid_fen,
                detail=bilingual(
                    f"整盒 {pack} 个单位中已有 {before} 个售出未退回，本次又售出 {units} 个",
                    f"{before} of {pack} units still out with consumers; this sale takes {units} more",
                ),
            )
            out.findings.append(finding)
            if others:
                out.chains.append(
                    ReturnChain(
                        finding.identity,
                        code,
                        tuple(_chain_sale(s, pack) for s in others),
                        None,
                        (_chain_sale(ev, pack),),
                    )
                )
        open_sales[(ev.party_id, ev.sale_id)] = _OpenSale(ev, units)


# -- L ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CustodyIn:
    event: CodeEvent
    holder: str  # who took custody
    source: str  # from whom ("" for opening stock and refunds)

    @property
    def at(self) -> datetime:
        return self.event.occurred_at


def custody_ins(events: Sequence[CodeEvent]) -> list[_CustodyIn]:
    """Every custody-in of a code (DESIGN §5 L), in event order."""
    own_sales = {(e.party_id, e.sale_id) for e in events if e.kind is SALE}
    out = []
    for e in events:
        if e.kind in (EventKind.RECEIPT, EventKind.OPENING_STOCK):
            out.append(_CustodyIn(e, e.party_id, e.counterparty_id))
        elif e.kind in (EventKind.TRANSFER, EventKind.PURCHASE_RETURN):
            out.append(_CustodyIn(e, e.counterparty_id, e.party_id))
        elif e.kind is SALE_RETURN and (e.party_id, e.sale_id) in own_sales:
            out.append(_CustodyIn(e, e.party_id, ""))
    return out


class CustodyVerdict(StrEnum):
    """Rule L's judgement of one custody-in: legal, or the L kind it points to."""

    LEGAL = "LEGAL"
    UNLICENSED_SUPPLIER = "UNLICENSED_SUPPLIER"
    SUPPLIER_NEVER_HELD = "SUPPLIER_NEVER_HELD"
    NOT_IN_CHAIN = "NOT_IN_CHAIN"


LEGAL = CustodyVerdict.LEGAL
_L_ZH = {
    CustodyVerdict.UNLICENSED_SUPPLIER: "供货方无有效许可",
    CustodyVerdict.SUPPLIER_NEVER_HELD: "供货方从未持有（过票）",
    CustodyVerdict.NOT_IN_CHAIN: "不在供应链内",
}


class _Legality:
    """Judges custody-ins, remembering verdicts (a transfer's verdict depends on its sender's)."""

    def __init__(self, code: str, cins: list[_CustodyIn], ref: Reference, skew: timedelta) -> None:
        self.cins, self.ref, self.skew = cins, ref, skew
        self.product = ref.product_of(code)
        self._verdicts: dict[str, CustodyVerdict] = {}

    def at(self, holder: str, before: datetime) -> list[_CustodyIn]:
        return [c for c in self.cins if c.holder == holder and c.at < before]

    def verdict(self, cin: _CustodyIn) -> CustodyVerdict:
        key = cin.event.event_id
        if key not in self._verdicts:
            self._verdicts[key] = CustodyVerdict.NOT_IN_CHAIN  # guards a transfer cycle within the skew
            self._verdicts[key] = self._judge(cin)
        return self._verdicts[key]

    def _judge(self, cin: _CustodyIn) -> CustodyVerdict:
        kind = cin.event.kind
        if kind is EventKind.RECEIPT:
            supplier = self.ref.parties.get(cin.source)
            if supplier is None or supplier.kind not in _SUPPLIER_KINDS or not supplier.licensed_at(cin.at):
                return CustodyVerdict.UNLICENSED_SUPPLIER
            checked = supplier.reports_events and not self._is_maker(supplier.party_id, supplier.kind)
            if checked and not self.at(supplier.party_id, cin.at + self.skew):
                return CustodyVerdict.SUPPLIER_NEVER_HELD
            return LEGAL
        if kind is EventKind.TRANSFER:
            holder, sender = self.ref.parties.get(cin.holder), self.ref.parties.get(cin.source)
            if holder is None or not holder.same_chain(sender):
                return CustodyVerdict.NOT_IN_CHAIN
            held = self.at(cin.source, cin.at + self.skew)
            return LEGAL if any(self.verdict(c) is LEGAL for c in held) else CustodyVerdict.NOT_IN_CHAIN
        return LEGAL  # purchase return, opening stock, refund of one's own sale

    def _is_maker(self, party_id: str, kind: PartyKind) -> bool:
        if self.product is not None and self.product.manufacturer_id:
            return party_id == self.product.manufacturer_id
        return kind is PartyKind.MANUFACTURER


_L_ORDER = (CustodyVerdict.UNLICENSED_SUPPLIER, CustodyVerdict.SUPPLIER_NEVER_HELD, CustodyVerdict.NOT_IN_CHAIN)
_L_SEVERITY = {
    "UNLICENSED_SUPPLIER": Severity.HIGH,
    "SUPPLIER_NEVER_HELD": Severity.HIGH,
    "NOT_IN_CHAIN": Severity.MEDIUM,
    "RECEIVED_AFTER_SALE": Severity.MEDIUM,
    "RECEIVED_ELSEWHERE": Severity.MEDIUM,
    "NEVER_RECEIVED": Severity.HIGH,
}


def _legal_source(
    code: str,
    events: Sequence[CodeEvent],
    cins: list[_CustodyIn],
    ref: Reference,
    *,
    skew: timedelta,
    out: CodeFindings,
) -> None:
    legality = _Legality(code, cins, ref, skew)
    # A refund makes a resale legal, but it is no purchase source: kinds 4-6 look past it.
    sources = [c for c in cins if c.event.kind is not SALE_RETURN]
    for sale in (e for e in events if e.kind is SALE):
        before = [c for c in cins if c.holder == sale.party_id and c.at < sale.occurred_at + skew]
        verdicts = {legality.verdict(c) for c in before}
        if LEGAL in verdicts:
            continue
        kind, shown, detail = _no_source(sale, verdicts, before, sources, legality)
        related = sorted({p for c in shown for p in (c.source, c.holder) if p and p != sale.party_id})
        out.findings.append(
            Finding(
                Rule.L,
                kind,
                _L_SEVERITY[kind],
                code,
                sale.event_id,
                sale.occurred_at,
                sale.party_id,
                related_parties=tuple(related),
                evidence=tuple(c.event.event_id for c in shown) + (sale.event_id,),
                money_fen=sale.fund_paid_fen,
                detail=detail,
            )
        )


def _no_source(
    sale: CodeEvent,
    verdicts: set[CustodyVerdict],
    before: list[_CustodyIn],
    sources: list[_CustodyIn],
    legality: _Legality,
) -> tuple[str, list[_CustodyIn], str]:
    """The one L kind of a sale with no legal custody-in before it (the first that holds), what shows
    it, and why."""
    judged = next((k for k in _L_ORDER if k in verdicts), None)
    if judged is not None:
        shown = [c for c in before if legality.verdict(c) is judged]
        why = bilingual(
            f"{sale.party_id} 的入库记录被判定为 {_L_ZH[judged]}",
            f"custody-in{'s' if len(shown) > 1 else ''} at {sale.party_id} judged {judged}",
        )
        return judged.value, shown, why
    at_seller = [c for c in sources if c.holder == sale.party_id]
    if at_seller:
        gap = at_seller[0].at - sale.occurred_at
        why = bilingual(
            f"{sale.party_id} 的首次入库晚于销售 {gap}", f"first custody-in at {sale.party_id} is {gap} after the sale"
        )
        return "RECEIVED_AFTER_SALE", at_seller, why
    if sources:
        holders = ", ".join(sorted({c.holder for c in sources}))
        return "RECEIVED_ELSEWHERE", sources, bilingual(f"仅由 {holders} 入库", f"received only by {holders}")
    return "NEVER_RECEIVED", [], bilingual("此码在任何机构均无入库记录", "no custody-in of this code anywhere")


# -- R ------------------------------------------------------------------------------------------


def _reentries(
    code: str, events: Sequence[CodeEvent], cins: list[_CustodyIn], pack: int, *, skew: timedelta, out: CodeFindings
) -> None:
    """A custody-in while units sold to consumers before it are still out: the box came back."""
    sales = [e for e in events if e.kind is SALE]
    if not sales:
        return
    returns = [e for e in events if e.kind is SALE_RETURN]
    for cin in cins:
        if cin.event.kind not in _REENTRY_KINDS:
            continue
        t = cin.at
        open_sales = {(s.party_id, s.sale_id): _OpenSale(s, _units(s, pack)) for s in sales if s.occurred_at < t - skew}
        for r in returns:  # the seller's own clock: a refund up to the skew after still counts as before
            sale = open_sales.get((r.party_id, r.sale_id))
            if sale is not None and r.occurred_at < t + skew:
                sale.units -= sale.units if r.units is None else min(r.units, sale.units)
        still_out = [s for s in open_sales.values() if s.units > 0]
        if not still_out:
            continue
        ev = cin.event
        out_units = sum(s.units for s in still_out)
        finding = Finding(
            Rule.R,
            "REENTRY",
            Severity.HIGH,
            code,
            ev.event_id,
            ev.occurred_at,
            ev.party_id,
            related_parties=tuple(
                sorted({s.event.party_id for s in still_out} | {cin.source, cin.holder} - {ev.party_id, ""})
            ),
            evidence=tuple(s.event.event_id for s in still_out) + (ev.event_id,),
            money_fen=sum(s.event.fund_paid_fen for s in still_out),
            detail=bilingual(
                f"{cin.holder} 入库时，已售给消费者的 {out_units} 个单位尚未退回",
                f"{out_units} units sold to consumers were still out when {cin.holder} took it in",
            ),
        )
        out.findings.append(finding)
        resales = tuple(_chain_sale(s, pack) for s in sales if s.order > ev.order)
        out.chains.append(
            ReturnChain(
                finding.identity,
                code,
                tuple(_chain_sale(s, pack) for s in still_out),
                ChainEntry(ev.event_id, ev.kind, cin.holder, cin.source, ev.occurred_at),
                resales,
            )
        )
