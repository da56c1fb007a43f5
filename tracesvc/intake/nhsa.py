"""NHSA 3501–3506 pharmacy uploads (进销存: 盘存, 库存变更, 采购, 采购退货, 销售, 销售退货) → event drafts.

DESIGN.md §7 "Intake adapters". A message is the platform's request envelope (infno, msgid,
fixmedins_code, inf_time, input) or its `input` alone (then the caller names infno and party).
Rows sit under `selinfo`, `purcinfo`, `invinfo` or a batch `…Detail` key, as one object or an array.

- 3503 → RECEIPT, 3504 → PURCHASE_RETURN, one event a row. The supplier is the registry's party
  for `spler_pmtno` (the supplier's licence number) or else `spler_name`, resolved by the caller
  (`NhsaOptions.supplier_of`); unresolved, it is kept as given and rule L judges it as unknown.
  3504's `medins_prod_purc_no` names the purchase returned from: the return is keyed by it and its time;
- 3505 → SALE: the rows of one sale (`setl_id` for an insured sale, else the retail document
  `rtal_docno` of a self-pay sale, which has no `psn_no` and so no buyer token, else
  `medins_prod_sel_no`) are its lines, since a sale is unique by (party, sale_id);
- 3506 → SALE_RETURN of the sale named the same way, one event per (sale, return time);
- 3501 (stock count) → OPENING_STOCK, its document the count's date and message;
  3502 → OPENING_STOCK where the row names a source document, else the row is skipped;
- 3507 (delete) → a retraction of what the party stored under the row serial (`fixmedins_bchno`) and
  data type (`inv_data_type`) it names, as an EPCIS errorDeclaration retracts an event.
- A flat `drug_trac_codg` of up to 30 characters is one code as typed (spaces and GS separators
  inside it are stripped when the code is parsed); a longer one is split on list separators only.

Event ids derive from (fixmedins_code, infno without its batch `A`, document number, row), so a
re-sent message, single or batch, is acknowledged as DUPLICATE. `psn_no` is replaced here by its
HMAC token (domain.privacy) and never kept; names and certificate numbers are not read at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from tracesvc.domain import privacy
from tracesvc.domain.events import Event, EventKind, Item, ReturnedCode, SaleLine, Scan, Violation
from tracesvc.intake.model import Deletion, DocumentError, Intake, Mapped, short

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
KIND_OF_INFNO = {
    "3501": EventKind.OPENING_STOCK,
    "3502": EventKind.OPENING_STOCK,
    "3503": EventKind.RECEIPT,
    "3504": EventKind.PURCHASE_RETURN,
    "3505": EventKind.SALE,
    "3506": EventKind.SALE_RETURN,
}
ROW_KEYS = ("selinfo", "purcinfo", "invinfo", "data")
DELETE = "3507"  # 商品信息删除: retracts what an earlier upload stored (DESIGN §7)
# inv_data_type of a 3507 row, and the one of each upload's rows (their fixmedins_bchno is kept for it)
DATA_TYPE_OF_INFNO = {"3501": "1", "3502": "2", "3503": "3", "3504": "3", "3505": "4", "3506": "4"}
MAX_ROWS = 10_000  # rows in one message; the HTTP adapter answers more with 413
MAX_COUNT = 1_000_000  # sel_retn_cnt / purc_retn_cnt
MAX_PRICE = Decimal(10_000_000)  # yuan per unit
_ID_MAX = 128
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?$")
_SAFE_ID = re.compile(r"^[0-9A-Za-z._:@\-]+$")
# A flat drug_trac_codg of up to 30 characters is one code as typed (its spaces and GS separators are
# the code's own, stripped when it is parsed); a longer one is a list, split only on list separators.
FLAT_CODE_MAX = 30
_LIST_SPLIT = re.compile(r"[,，;；、\r\n]+")

# Where each kind finds its time and its document number, in order of preference.
_TIME_FIELDS = {
    EventKind.SALE: ("sel_retn_time",),
    EventKind.SALE_RETURN: ("sel_retn_time",),
    EventKind.RECEIPT: ("purc_retn_stoin_time", "stoin_time"),
    EventKind.PURCHASE_RETURN: ("purc_retn_stoin_time", "stoin_time"),
    EventKind.OPENING_STOCK: ("inv_chg_time", "invdate"),
}
_SALE_KEYS = ("setl_id", "rtal_docno", "medins_prod_sel_no")  # what names a sale, in order of preference
_DOC_FIELDS = {
    EventKind.RECEIPT: ("medins_prod_purc_no", "dynt_no", "purc_invo_no", "fixmedins_bchno"),
    EventKind.PURCHASE_RETURN: ("medins_prod_purc_no", "dynt_no", "fixmedins_bchno"),
    EventKind.OPENING_STOCK: ("dynt_no", "purc_invo_no", "medins_prod_purc_no"),
}


@dataclass(frozen=True, slots=True)
class NhsaOptions:
    hmac_key: bytes  # the server's key for buyer tokens (domain.privacy)
    zone: tzinfo = CHINA_STANDARD_TIME  # the party's local time, in which sel_retn_time is written
    party_id: str = ""  # for a bare `input`, or an envelope without fixmedins_code
    infno: str = ""  # for a bare `input`; when given with an envelope they must agree
    # The registry's party for a supplier named by licence number (spler_pmtno) or name (spler_name);
    # None: not known (the supplier is then kept as given, and rule L judges it as unknown).
    supplier_of: Callable[[str, str, datetime | None], str | None] = lambda licence, name, when: None
    message_id: str = ""  # the envelope's msgid, for a 3501 count's document when the envelope has none
    sent_at: datetime | None = None  # the envelope's inf_time: when a 3507 deletion was declared


@dataclass(frozen=True, slots=True)
class Row:
    index: int
    position: str
    data: dict[str, Any]


def parse_infno(raw: object) -> tuple[str, bool]:
    """('3505', batch?) from '3505' or '3505A'; DocumentError for anything else."""
    text = str(raw).strip() if isinstance(raw, str | int) else ""
    batch = text.upper().endswith("A")
    base = text[:-1] if batch else text
    if base not in KIND_OF_INFNO and base != DELETE:
        raise DocumentError("infno", f"{short(text)} is not one of 3501–3507 (or a batch 'A' variant)")
    return base, batch


def map_message(message: object, options: NhsaOptions) -> Intake:
    """Map one NHSA message; raise DocumentError when it is not a message at all."""
    if not isinstance(message, dict):
        raise DocumentError("", "an NHSA message is a JSON object")
    body, infno_raw, party, options = _opened(message, options)
    if not infno_raw:
        raise DocumentError("infno", "required (in the envelope, or given with a bare input)")
    infno, _ = parse_infno(infno_raw)
    if not party:
        raise DocumentError("fixmedins_code", "required (in the envelope, or given with a bare input)")
    if not isinstance(body, dict):
        raise DocumentError("input", "must be a JSON object")
    rows = list(_rows(body))
    if len(rows) > MAX_ROWS:
        raise DocumentError("input", f"{len(rows)} rows; at most {MAX_ROWS} in one message")
    out = Intake()
    if infno == DELETE:
        _deletions(rows, party, options, out)
        return out
    kind = KIND_OF_INFNO[infno]
    mapper = _RowMapper(options, party, infno, kind, out)
    if kind is EventKind.SALE:
        mapper.sales(rows)
    elif kind is EventKind.SALE_RETURN:
        mapper.sale_returns(rows)
    else:
        mapper.custody(rows)
    return out


def _opened(message: dict[str, Any], options: NhsaOptions) -> tuple[object, object, str, NhsaOptions]:
    """(input, infno, fixmedins_code, options with the envelope's msgid and inf_time) of a message, its
    envelope's where it has one, else what the caller gave for a bare `input`."""
    if "input" not in message:
        return message, options.infno, options.party_id.strip(), options
    infno_raw = message.get("infno") or options.infno
    if options.infno and message.get("infno") and parse_infno(message["infno"])[0] != parse_infno(options.infno)[0]:
        raise DocumentError("infno", f"envelope infno {short(message['infno'])} differs from {options.infno}")
    party = str(message.get("fixmedins_code") or options.party_id).strip()
    if not options.message_id and isinstance(message.get("msgid"), str | int):
        options = replace(options, message_id=str(message["msgid"]).strip())
    if options.sent_at is None:
        options = replace(options, sent_at=local_time(message.get("inf_time"), options.zone))
    return message["input"], infno_raw, party, options


def _deletions(rows: list[Row], party: str, options: NhsaOptions, out: Intake) -> None:
    """3507 rows: each names a row serial and its data type; the service retracts what was stored so."""
    when = options.sent_at or datetime.now(UTC)
    for row in rows:
        if not isinstance(row.data, dict):
            out.reject(row.position, (row.index,), "a row must be a JSON object")
            continue
        serial, data_type = _text(row.data, "fixmedins_bchno"), _text(row.data, "inv_data_type")
        if not serial:
            out.reject(row.position, (row.index,), "fixmedins_bchno is required: it names the row to delete")
        elif data_type not in ("1", "2", "3", "4"):
            out.reject(row.position, (row.index,), f"inv_data_type {short(data_type)} is not 1, 2, 3 or 4")
        else:
            out.deletions.append(Deletion(row.position, (row.index,), party, data_type, serial, when, dict(row.data)))


def _rows(body: dict[str, Any]) -> Iterator[Row]:
    keys = [k for k in body if k in ROW_KEYS or k.lower().endswith("detail")]
    if not keys:
        raise DocumentError("input", "no rows: expected selinfo, purcinfo, invinfo or a batch …Detail key")
    index = 0
    for key in keys:
        value = body[key]
        items = value if isinstance(value, list) else [value]
        for n, data in enumerate(items):
            position = f"input.{key}[{n}]" if isinstance(value, list) else f"input.{key}"
            yield Row(index, position, data)
            index += 1


def supplier_refs(message: object) -> tuple[set[str], set[str]]:
    """The suppliers' licence numbers and names a message names (best effort: for resolving them
    in the registry before mapping; a malformed message is refused by `map_message` itself)."""
    body = message.get("input", message) if isinstance(message, dict) else None
    numbers: set[str] = set()
    names: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ROW_KEYS or key.lower().endswith("detail"):
                for row in value if isinstance(value, list) else [value]:
                    if isinstance(row, dict):
                        numbers.add(_text(row, "spler_pmtno"))
                        names.add(_text(row, "spler_name"))
    return numbers - {""}, names - {""}


def trace_codes(row: dict[str, Any]) -> tuple[list[str], str]:
    """The codes of a row: `drugtracinfo` (array, one object, or a JSON string of either), else the
    flat `drug_trac_codg` (one code, or several separated by commas); second: a problem, or ''."""
    info = row.get("drugtracinfo")
    if isinstance(info, str) and info.strip():
        try:
            info = json.loads(info)
        except ValueError:
            return [], f"drugtracinfo is a string but not JSON: {short(info)}"
    if info not in (None, "", [], {}):
        entries = info if isinstance(info, list) else [info]
        codes: list[str] = []
        for n, entry in enumerate(entries):
            value = entry.get("drug_trac_codg") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value.strip():
                return [], f"drugtracinfo[{n}] has no drug_trac_codg"
            codes.append(value.strip())
        return codes, ""
    flat = row.get("drug_trac_codg")
    if isinstance(flat, list):
        return [str(c).strip() for c in flat if str(c).strip()], ""
    if isinstance(flat, str):
        if len(flat.strip()) <= FLAT_CODE_MAX:
            return ([flat.strip()] if flat.strip() else []), ""
        return [c.strip() for c in _LIST_SPLIT.split(flat) if c.strip()], ""
    return [], ""


def local_time(value: object, zone: tzinfo) -> datetime | None:
    """`yyyy-MM-dd HH:mm:ss` (or a bare date) in the party's zone, as an aware datetime; None if not that."""
    if not isinstance(value, str):
        return None
    m = _TIME.match(value.strip())
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(p) if p is not None else 0 for p in m.groups())
    try:
        return datetime(y, mo, d, h, mi, sec, tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


def event_id(party: str, infno: str, document: str, row: int | None = None) -> str:
    """nhsa:<fixmedins_code>:<infno>:<document>[:<row>]; a digest when that is too long or unsafe."""
    text = f"nhsa:{party}:{infno}:{document}" + ("" if row is None else f":{row}")
    if len(text) <= _ID_MAX and _SAFE_ID.match(text):
        return text
    return "nhsa:" + hashlib.sha256(text.encode()).hexdigest()


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    return str(value).strip() if isinstance(value, str | int | float) else ""


def _digits(row: dict[str, Any], name: str) -> str:
    return re.sub(r"[^0-9]", "", _text(row, name))


def _first(row: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = _text(row, name)
        if value:
            return value
    return ""


class _RowMapper:
    def __init__(self, options: NhsaOptions, party: str, infno: str, kind: EventKind, out: Intake) -> None:
        self.options, self.party, self.infno, self.kind, self.out = options, party, infno, kind, out

    # -- shared pieces -------------------------------------------------------------------------

    def _time(self, row: Row, violations: list[Violation]) -> datetime | None:
        for name in _TIME_FIELDS[self.kind]:
            if name in row.data:
                when = local_time(row.data[name], self.options.zone)
                if when is None:
                    violations.append(
                        Violation(f"{row.position}.{name}", f"{short(row.data[name])} is not yyyy-MM-dd HH:mm:ss")
                    )
                return when
        violations.append(Violation(f"{row.position}.{_TIME_FIELDS[self.kind][0]}", "required"))
        return None

    def _count(self, row: Row, name: str, violations: list[Violation]) -> int:
        raw = row.data.get(name)
        try:
            value = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            violations.append(Violation(f"{row.position}.{name}", f"{short(raw)} is not a number"))
            return 0
        if value != value.to_integral_value() or not 0 < value <= MAX_COUNT:
            violations.append(
                Violation(f"{row.position}.{name}", f"{short(raw)} must be a whole number in 1..{MAX_COUNT}")
            )
            return 0
        return int(value)

    def _fen(self, row: Row, name: str, violations: list[Violation]) -> Decimal:
        raw = row.data.get(name)
        if raw in (None, ""):
            return Decimal(0)
        try:
            value = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            violations.append(Violation(f"{row.position}.{name}", f"{short(raw)} is not a number"))
            return Decimal(0)
        if not value.is_finite() or not 0 <= value <= MAX_PRICE:
            violations.append(Violation(f"{row.position}.{name}", f"{short(raw)} must be in 0..{MAX_PRICE}"))
            return Decimal(0)
        return value * 100

    def _codes(self, row: Row, violations: list[Violation]) -> list[str]:
        codes, problem = trace_codes(row.data)
        if problem:
            violations.append(Violation(f"{row.position}.drugtracinfo", problem))
        elif not codes:
            violations.append(
                Violation(f"{row.position}.drugtracinfo", "no trace code (drugtracinfo or drug_trac_codg)")
            )
        return codes

    def _emit(self, rows: list[Row], draft: Event, violations: list[Violation]) -> None:
        position = rows[0].position if len(rows) == 1 else ",".join(r.position for r in rows)
        data_type = DATA_TYPE_OF_INFNO[self.infno]
        serials = tuple(dict.fromkeys((data_type, s) for r in rows if (s := _text(r.data, "fixmedins_bchno"))))
        self.out.mapped.append(Mapped(position, tuple(r.index for r in rows), draft, tuple(violations), serials))

    def _objects(self, rows: list[Row]) -> list[Row]:
        good = []
        for row in rows:
            if isinstance(row.data, dict):
                good.append(row)
            else:
                self.out.reject(row.position, (row.index,), "a row must be a JSON object")
        return good

    # -- custody: 3501-3504, one event per row ---------------------------------------------------

    def custody(self, rows: list[Row]) -> None:
        seen: dict[str, int] = {}
        for row in self._objects(rows):
            document = _first(row.data, _DOC_FIELDS[self.kind])
            key = document
            if self.kind is EventKind.PURCHASE_RETURN and document:
                # medins_prod_purc_no names the purchase returned from, not the return: two returns of
                # one purchase are two events, told apart by when each left.
                key = f"{document}@{_digits(row.data, 'purc_retn_stoin_time')}"
            if not document and self.infno == "3501":
                # A stock count has no document number: the count (its date, and the message) is one.
                count_day = _digits(row.data, "invdate")[:8]
                document = " ".join(p for p in (f"盘存 stock count {count_day}", self.options.message_id) if p)
                key = (
                    f"count{count_day}:{_first(row.data, ('fixmedins_bchno', 'med_list_codg', 'fixmedins_hilist_id'))}"
                )
            if not document:
                if self.kind is EventKind.OPENING_STOCK:
                    self.out.skip(
                        row.position,
                        (row.index,),
                        "no source document (dynt_no, purc_invo_no or "
                        "medins_prod_purc_no): not an opening-stock declaration",
                    )
                else:
                    self.out.reject(
                        row.position,
                        (row.index,),
                        "no document number ("
                        + ", ".join(_DOC_FIELDS[self.kind])
                        + "): a re-sent row could not be told from a new one",
                    )
                continue
            n = seen.get(key, 0)
            seen[key] = n + 1
            self._custody_row(row, document, n, key)

    def _custody_row(self, row: Row, document: str, n: int, key: str) -> None:
        violations: list[Violation] = []
        when = self._time(row, violations)
        codes = self._codes(row, violations)
        batch = _text(row.data, "manu_lotnum")
        expiry = _text(row.data, "expy_end")[:10]
        source = document if self.kind is EventKind.OPENING_STOCK else ""
        supplier = self._supplier(row, when) if self.kind in (EventKind.RECEIPT, EventKind.PURCHASE_RETURN) else ""
        draft = Event(
            event_id=event_id(self.party, self.infno, key, n),
            kind=self.kind,
            party_id=self.party,
            occurred_at=when,  # type: ignore[arg-type]  # None only with a violation: the ack is REJECTED
            document_no=document,
            counterparty_id=supplier,
            items=tuple(Item(c, batch, expiry, source) for c in codes),
        )
        self._emit([row], draft, violations)

    def _supplier(self, row: Row, when: datetime | None) -> str:
        """The registry's party for the row's supplier (the holder of its licence number at the row's
        time, then the one party of its registered name), else the supplier as given: its licence
        number, or its name."""
        licence, name = _text(row.data, "spler_pmtno"), _text(row.data, "spler_name")
        return self.options.supplier_of(licence, name, when) or licence or name

    # -- 3505: the rows of one settlement are one sale --------------------------------------------

    def _groups(self, rows: list[Row], key_of) -> dict[str, list[Row]]:
        groups: dict[str, list[Row]] = {}
        for row in self._objects(rows):
            key = key_of(row)
            if not key:
                self.out.reject(
                    row.position,
                    (row.index,),
                    "no setl_id, rtal_docno or medins_prod_sel_no: the sale cannot be named",
                )
                continue
            groups.setdefault(key, []).append(row)
        return groups

    def sales(self, rows: list[Row]) -> None:
        # Insured sales by their settlement (setl_id); self-pay sales, which have none (and no psn_no),
        # by their retail document (rtal_docno): the rows of one are the lines of one sale.
        for sale_id, group in self._groups(rows, lambda r: _first(r.data, _SALE_KEYS)).items():
            violations: list[Violation] = []
            when = self._time(group[0], violations)
            lines = tuple(self._sale_line(row, violations) for row in group)
            buyers = {_text(r.data, "psn_no") for r in group} - {""}
            if len(buyers) > 1:
                violations.append(
                    Violation(f"{group[-1].position}.psn_no", "rows of one settlement name different insured persons")
                )
            token = privacy.buyer_token(self.options.hmac_key, buyers.pop()) if len(buyers) == 1 else ""
            draft = Event(
                event_id=event_id(self.party, self.infno, sale_id),
                kind=EventKind.SALE,
                party_id=self.party,
                occurred_at=when,  # type: ignore[arg-type]
                document_no=_first(group[0].data, ("rtal_docno", "medins_prod_sel_no")),
                sale_id=sale_id,
                buyer_token=token,
                lines=lines,
            )
            self._emit(group, draft, violations)

    def _sale_line(self, row: Row, violations: list[Violation]) -> SaleLine:
        split = _text(row.data, "trdn_flag") in ("1", "True", "true")
        quantity = self._count(row, "sel_retn_cnt", violations)
        amount = self._fen(row, "finl_trns_pric", violations) * quantity
        fund = self._fen(row, "fund_pay_sumamt", violations)
        codes = self._codes(row, violations)
        if split and len(codes) > 1:
            violations.append(
                Violation(
                    f"{row.position}.drugtracinfo",
                    f"a 拆零 (trdn_flag=1) row lists {len(codes)} codes: the units taken from each are unknown",
                )
            )
        units = quantity if split and quantity else None
        return SaleLine(
            insurance_code=_text(row.data, "med_list_codg"),
            item_name=_text(row.data, "fixmedins_hilist_name"),
            split=split,
            quantity=quantity,
            amount_fen=int(amount.to_integral_value()),
            fund_paid_fen=int(fund.to_integral_value()),
            scans=tuple(Scan(c, units) for c in codes),
        )

    # -- 3506: one return per (sale, return time) ------------------------------------------------

    def sale_returns(self, rows: list[Row]) -> None:
        def key_of(row: Row) -> str:
            link = _first(row.data, _SALE_KEYS)
            return f"{link}@{re.sub(r'[^0-9]', '', _text(row.data, 'sel_retn_time'))}" if link else ""

        for key, group in self._groups(rows, key_of).items():
            violations: list[Violation] = []
            when = self._time(group[0], violations)
            returned: list[ReturnedCode] = []
            for row in group:
                split = _text(row.data, "trdn_flag") in ("1", "True", "true")
                count = self._count(row, "sel_retn_cnt", violations)
                codes = self._codes(row, violations)
                if split and len(codes) > 1:
                    violations.append(
                        Violation(
                            f"{row.position}.drugtracinfo",
                            "a 拆零 return lists several codes: the units of each are unknown",
                        )
                    )
                returned += [ReturnedCode(c, count if split and count else None) for c in codes]
            draft = Event(
                event_id=event_id(self.party, self.infno, key),
                kind=EventKind.SALE_RETURN,
                party_id=self.party,
                occurred_at=when,  # type: ignore[arg-type]
                document_no=_text(group[0].data, "medins_prod_sel_no"),
                sale_id=key.split("@", 1)[0],
                returned=tuple(returned),
            )
            self._emit(group, draft, violations)
