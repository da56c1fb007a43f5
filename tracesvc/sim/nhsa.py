"""The simulator's traffic as NHSA 3501–3506 messages: what the designated pharmacies and hospitals
(定点医药机构) upload to the insurance platform, for `tracesvc import --format nhsa` (DESIGN §7).

Each event a designated party reports becomes rows of one message per (party, infno) in arrival order:
SALE → 3505 (one row per line; `setl_id` = sale id for an insured sale, `rtal_docno` for a self-pay
one), SALE_RETURN → 3506, RECEIPT → 3503 (the supplier by licence number and name, as a HIS names
it), PURCHASE_RETURN → 3504, OPENING_STOCK → 3501. A re-sent event goes out again in a message of its
own, as a POS re-sends.

NHSA cannot carry everything a proto event carries; those events stay proto events (`NhsaTraffic.rest`):
- events of parties that are not designated (makers, wholesalers, chain distribution centres): NHSA is
  the designated parties' upload, and the platform knows no other;
- SHIPMENT and TRANSFER: 3501–3506 has no 出库 or 调拨 message;
- a sale line whose scans a 3505 row cannot say: no scan; a 拆零 line that is not one code handing out
  exactly the line's quantity; a whole-pack line with units on a scan; a buyer given only as a token;
- custody events whose items differ in batch or expiry (one row, one batch), an OPENING_STOCK without one
  shared source document, and any event whose NHSA document number another event already took.
Carried with a loss: times to the second, in the party's local time (+08:00); the amount as a unit price
`finl_trns_pric` (yuan, 6 decimals), so `amount_fen` may differ by rounding. A line's fund share goes in
`fund_pay_sumamt`, which the platform's 3505 does not have but tracesvc's intake reads (`fund_share=False`
leaves it out: the flags' money at risk is then 0).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from tracesvc.intake.nhsa import event_id as nhsa_event_id
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import registry_pb2 as reg

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
ROWS_PER_MESSAGE = 500
_INFNO = {"sale": "3505", "sale_return": "3506", "receipt": "3503", "purchase_return": "3504", "opening_stock": "3501"}
_ROW_KEY = {"3505": "selinfo", "3506": "selinfo", "3503": "purcinfo", "3504": "purcinfo", "3501": "invinfo"}
_TIME_FIELD = {"3505": "sel_retn_time", "3506": "sel_retn_time", "3503": "stoin_time"}
_TIME_FIELD |= {"3504": "purc_retn_stoin_time", "3501": "invdate"}


def designated(parties: Iterable[reg.Party]) -> set[str]:
    """The parties that upload to the insurance platform: pharmacies and hospitals."""
    return {p.party_id for p in parties if p.kind in (reg.PARTY_KIND_PHARMACY, reg.PARTY_KIND_HOSPITAL)}


@dataclass
class NhsaTraffic:
    messages: list[dict[str, Any]] = field(default_factory=list)  # NHSA request envelopes
    rest: list[ev.Event] = field(default_factory=list)  # what NHSA cannot carry, as proto events
    ids: dict[str, str] = field(default_factory=dict)  # proto event id -> the id the NHSA intake gives it
    carried: Counter[str] = field(default_factory=Counter)  # events written as NHSA rows, by infno


@dataclass
class _Pending:
    """Rows of one (party, infno) waiting for their message, and the grouping keys they hold."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


class _Writer:
    def __init__(
        self, zone: tzinfo, fund_share: bool, rows_per_message: int, suppliers: Mapping[str, reg.Party]
    ) -> None:
        self.zone, self.fund_share, self.rows_per_message = zone, fund_share, rows_per_message
        self.suppliers = suppliers
        self.out = NhsaTraffic()
        self.pending: dict[tuple[str, str], _Pending] = {}
        self.owner: dict[tuple[str, str, str], str] = {}  # (party, infno, grouping key) -> proto event id

    def local(self, ts) -> str:
        when = datetime.fromtimestamp(ts.seconds, UTC).astimezone(self.zone)  # whole seconds: NHSA's precision
        return when.strftime("%Y-%m-%d %H:%M:%S")

    def add(self, event: ev.Event) -> bool:
        """Write the event as rows; False when NHSA cannot carry it."""
        which = event.WhichOneof("kind")
        infno = _INFNO.get(which or "")
        if infno is None:
            return False
        body = getattr(event, which)
        built = self._rows(infno, body)
        if built is None:
            return False
        key, rows, nhsa_id = built
        party, eid = body.header.party_id, body.header.event_id
        if self.owner.setdefault((party, infno, key), eid) != eid:
            return False  # another event took this document number or settlement
        pending = self.pending.setdefault((party, infno), _Pending())
        if key in pending.keys or len(pending.rows) + len(rows) > self.rows_per_message:
            self.flush(party, infno)  # a re-sent event goes in a message of its own
            pending = self.pending.setdefault((party, infno), _Pending())
        pending.rows += rows
        pending.keys.add(key)
        self.out.ids[eid] = nhsa_id
        self.out.carried[infno] += 1
        return True

    def _rows(self, infno: str, body) -> tuple[str, list[dict[str, Any]], str] | None:
        party, when = body.header.party_id, self.local(body.header.occurred_at)
        if infno == "3505":
            rows = self._sale_rows(body, when)
            return (body.sale_id, rows, nhsa_event_id(party, infno, body.sale_id)) if rows else None
        if infno == "3506":
            key = f"{body.sale_id}@{re.sub(r'[^0-9]', '', when)}"
            rows = self._return_rows(body, when)
            return (key, rows, nhsa_event_id(party, infno, key)) if rows else None
        row = self._custody_row(infno, body, when)
        if row is None:
            return None
        document = row["dynt_no"] if infno == "3501" else row["medins_prod_purc_no"]
        # the intake keys a purchase return by the purchase it names and its own time
        key = f"{document}@{re.sub(r'[^0-9]', '', when)}" if infno == "3504" else document
        return key, [row], nhsa_event_id(party, infno, key, 0)

    def _sale_rows(self, sale: ev.Sale, when: str) -> list[dict[str, Any]]:
        if not sale.buyer_id and sale.buyer_token:
            return []  # a token cannot be written as psn_no
        rows = []
        for line in sale.lines:
            if not _sayable(line):
                return []
            row: dict[str, Any] = {
                "med_list_codg": line.insurance_code,
                "fixmedins_hilist_name": line.item_name,
                "trdn_flag": "1" if line.split else "0",
                "sel_retn_cnt": str(line.quantity),
                "finl_trns_pric": str((Decimal(line.amount_fen) / 100 / line.quantity).quantize(Decimal("0.000001"))),
                "sel_retn_time": when,
                "drugtracinfo": [{"drug_trac_codg": s.code} for s in line.scanned],
            }
            if sale.buyer_id:  # insured: the settlement names the sale
                row["setl_id"] = sale.sale_id
                row["psn_no"] = sale.buyer_id
                if sale.header.document_no:
                    row["rtal_docno"] = sale.header.document_no
            else:  # self-pay: no settlement and no insured person; the retail document names the sale
                row["rtal_docno"] = sale.sale_id
            if self.fund_share:
                row["fund_pay_sumamt"] = str(Decimal(line.fund_paid_fen) / 100)
            rows.append(row)
        return rows

    def _return_rows(self, ret: ev.SaleReturn, when: str) -> list[dict[str, Any]]:
        base = {"setl_id": ret.sale_id, "sel_retn_time": when}
        whole = [c.code for c in ret.codes if not c.HasField("units")]
        rows = []
        if whole:
            rows.append({**base, "trdn_flag": "0", "sel_retn_cnt": str(len(whole)), "drugtracinfo": _codes(whole)})
        rows += [
            {**base, "trdn_flag": "1", "sel_retn_cnt": str(c.units), "drugtracinfo": _codes([c.code])}
            for c in ret.codes
            if c.HasField("units")
        ]
        return rows

    def _custody_row(self, infno: str, body, when: str) -> dict[str, Any] | None:
        items = list(body.items)
        shared = {(i.batch, i.expiry, i.source_document) for i in items}
        if not items or len(shared) != 1:
            return None
        batch, expiry, source = shared.pop()
        row: dict[str, Any] = {_TIME_FIELD[infno]: when, "drugtracinfo": _codes([i.code for i in items])}
        if infno == "3501":
            if not source:
                return None  # the intake skips stock rows without a source document
            row["dynt_no"] = source
        else:
            row["medins_prod_purc_no"] = body.header.document_no or body.header.event_id
            row["purc_retn_cnt"] = str(len(items))
            if body.supplier_id:  # as a HIS writes it: the supplier's licence number (if any) and its name
                known = self.suppliers.get(body.supplier_id)
                if known is not None and known.licences:
                    row["spler_pmtno"] = known.licences[0].number
                row["spler_name"] = known.name if known is not None and known.name else body.supplier_id
        if batch:
            row["manu_lotnum"] = batch
        if expiry:
            row["expy_end"] = expiry
        return row

    def flush(self, party: str, infno: str) -> None:
        pending = self.pending.pop((party, infno), None)
        if not pending or not pending.rows:
            return
        n = len(self.out.messages)
        times = [r[_TIME_FIELD[infno]] for r in pending.rows]
        self.out.messages.append(
            {
                "infno": infno,
                "msgid": f"{party[:20]}-{infno}-{n:08d}",
                "fixmedins_code": party,
                "inf_time": max(times),
                "input": {_ROW_KEY[infno]: pending.rows},
            }
        )

    def finish(self) -> NhsaTraffic:
        for party, infno in sorted(self.pending):
            self.flush(party, infno)
        return self.out


def _sayable(line: ev.SaleLine) -> bool:
    """A 3505 row holds the line: it has scans, a quantity, and the units the intake will read back."""
    if not line.scanned or line.quantity < 1:
        return False
    if line.split:  # 拆零: one code, handing out the line's quantity
        return len(line.scanned) == 1 and line.scanned[0].HasField("units") and line.scanned[0].units == line.quantity
    return not any(s.HasField("units") for s in line.scanned)


def _codes(codes: Iterable[str]) -> list[dict[str, str]]:
    return [{"drug_trac_codg": c} for c in codes]


def to_nhsa(
    events: Iterable[ev.Event],
    parties: Collection[str],
    *,
    zone: tzinfo = CHINA_STANDARD_TIME,
    fund_share: bool = True,
    rows_per_message: int = ROWS_PER_MESSAGE,
    suppliers: Mapping[str, reg.Party] | None = None,
) -> NhsaTraffic:
    """Write the events of the designated `parties` as NHSA messages; the others, and what NHSA cannot carry,
    come back as proto events in `rest` (in their order). `suppliers` (the registry's parties) lets a
    receipt name its supplier as a HIS does, by licence number and name; without it, by id as the name."""
    writer = _Writer(zone, fund_share, rows_per_message, suppliers or {})
    for event in events:
        which = event.WhichOneof("kind")
        party = getattr(event, which).header.party_id if which else ""
        if party not in parties or not writer.add(event):
            writer.out.rest.append(event)
    return writer.finish()


def write_messages(traffic: NhsaTraffic, folder: Path) -> int:
    """One file per party (`<fixmedins_code>.ndjson`, a message a line), as `tracesvc import --format nhsa`
    reads a folder; returns the number of messages."""
    folder.mkdir(parents=True, exist_ok=True)
    by_party: dict[str, list[dict[str, Any]]] = {}
    for message in traffic.messages:
        by_party.setdefault(message["fixmedins_code"], []).append(message)
    for party, messages in sorted(by_party.items()):
        with open(folder / f"{party}.ndjson", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
    return len(traffic.messages)
