"""The event model of DESIGN.md §4 as plain immutable values.

Events arrive as drafts (raw scanned strings) and leave `normalize_event` with
canonical codes, or with every field violation found, so one bad event gets one
complete error and the caller can fix it in one go.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from tracesvc.domain import codes, hygiene
from tracesvc.domain.codes import CodeError, CommodityBarcode, TraceCode
from tracesvc.domain.hygiene import quote

MAX_CODES_PER_EVENT = 10_000
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class EventKind(StrEnum):
    RECEIPT = "RECEIPT"
    SHIPMENT = "SHIPMENT"
    TRANSFER = "TRANSFER"
    PURCHASE_RETURN = "PURCHASE_RETURN"
    OPENING_STOCK = "OPENING_STOCK"
    SALE = "SALE"
    SALE_RETURN = "SALE_RETURN"


# Which counterparty field each custody kind names, on the wire.
COUNTERPARTY_FIELD = {
    EventKind.RECEIPT: "supplier_id",
    EventKind.SHIPMENT: "receiver_id",
    EventKind.TRANSFER: "to_party_id",
    EventKind.PURCHASE_RETURN: "supplier_id",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem with one field; `field` is a path such as ``items[2].code``."""

    field: str
    description: str


class InvalidEvent(ValueError):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    batch: str = ""
    expiry: str = ""  # YYYY-MM-DD or empty
    source_document: str = ""


@dataclass(frozen=True, slots=True)
class Scan:
    code: str
    units: int | None = None  # None: the whole pack
    is_trace: bool = True  # False: a commodity barcode, kept as evidence for rule S


@dataclass(frozen=True, slots=True)
class SaleLine:
    insurance_code: str
    item_name: str = ""
    split: bool = False
    quantity: int = 1
    amount_fen: int = 0
    fund_paid_fen: int = 0
    scans: tuple[Scan, ...] = ()


@dataclass(frozen=True, slots=True)
class ReturnedCode:
    code: str
    units: int | None = None  # None: all the units the original sale took


NO_LINE = -1  # line_no of a code row off sales


class CodeRow(NamedTuple):
    """One code an event touches, as event_codes stores it."""

    code: str
    units: int | None  # None: the whole pack (or, on a refund, all that its sale took)
    line_no: int  # the sale line; NO_LINE off sales
    is_trace: bool  # False: a commodity barcode scanned at a sale (evidence for rule S only)
    # Derived values stored beside the code, so SQL never reads them from the payload by position:
    fund_fen: int = 0  # on a sale, this code's share of its line's fund paid (rounded down)
    batch: str = ""  # on a custody event, the item's batch number


class Serialized(NamedTuple):
    """An event's stored form: canonical JSON text and its SHA-256 (the idempotency check)."""

    text: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    kind: EventKind
    party_id: str
    occurred_at: datetime
    document_no: str = ""
    counterparty_id: str = ""  # supplier, receiver or to_party, by kind
    items: tuple[Item, ...] = ()
    sale_id: str = ""
    buyer_token: str = ""
    lines: tuple[SaleLine, ...] = ()
    returned: tuple[ReturnedCode, ...] = ()

    def evolve(self, **changes: Any) -> Event:
        """dataclasses.replace without its per-call introspection (this is the ingest hot path)."""
        f: dict[str, Any] = {
            "event_id": self.event_id,
            "kind": self.kind,
            "party_id": self.party_id,
            "occurred_at": self.occurred_at,
            "document_no": self.document_no,
            "counterparty_id": self.counterparty_id,
            "items": self.items,
            "sale_id": self.sale_id,
            "buyer_token": self.buyer_token,
            "lines": self.lines,
            "returned": self.returned,
        }
        f.update(changes)
        return Event(**f)

    def code_rows(self) -> list[CodeRow]:
        """One row per code the event touches (per sale line on sales)."""
        if self.kind is EventKind.SALE:
            # Two part-scans of one code on one line make one row with their units summed; the row's
            # fund share is the line's fund paid × its scans of the code ÷ all its scans, rounded down.
            rows: dict[tuple[str, int], CodeRow] = {}
            for n, line in enumerate(self.lines):
                scans_of: dict[str, int] = {}
                for s in line.scans:
                    scans_of[s.code] = scans_of.get(s.code, 0) + 1
                    prev = rows.get((s.code, n))
                    units = s.units
                    if prev is not None:
                        units = None if prev.units is None or units is None else prev.units + units
                    rows[(s.code, n)] = CodeRow(s.code, units, n, s.is_trace)
                for code, count in scans_of.items():
                    share = line.fund_paid_fen * count // max(1, len(line.scans))
                    rows[(code, n)] = rows[(code, n)]._replace(fund_fen=share)
            return list(rows.values())
        if self.kind is EventKind.SALE_RETURN:
            return [CodeRow(r.code, r.units, NO_LINE, True) for r in self.returned]
        return [CodeRow(i.code, None, NO_LINE, True, 0, i.batch) for i in self.items]

    @property
    def fund_paid_fen(self) -> int:
        """What the insurance fund paid on the whole sale (0 off sales)."""
        return sum(ln.fund_paid_fen for ln in self.lines)

    def to_json(self) -> dict[str, Any]:
        """A stable JSON form (the stored payload); from_json inverts it."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "kind": self.kind.value,
            "party_id": self.party_id,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "document_no": self.document_no,
        }
        if self.counterparty_id:
            out["counterparty_id"] = self.counterparty_id
        if self.items:
            out["items"] = [[i.code, i.batch, i.expiry, i.source_document] for i in self.items]
        if self.kind in (EventKind.SALE, EventKind.SALE_RETURN):
            out["sale_id"] = self.sale_id
        if self.buyer_token:
            out["buyer_token"] = self.buyer_token
        if self.lines:
            out["lines"] = [
                [
                    ln.insurance_code,
                    ln.item_name,
                    ln.split,
                    ln.quantity,
                    ln.amount_fen,
                    ln.fund_paid_fen,
                    [[s.code, s.units, s.is_trace] for s in ln.scans],
                ]
                for ln in self.lines
            ]
        if self.returned:
            out["returned"] = [[r.code, r.units] for r in self.returned]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            event_id=data["event_id"],
            kind=EventKind(data["kind"]),
            party_id=data["party_id"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            document_no=data.get("document_no", ""),
            counterparty_id=data.get("counterparty_id", ""),
            items=tuple(Item(*i) for i in data.get("items", ())),
            sale_id=data.get("sale_id", ""),
            buyer_token=data.get("buyer_token", ""),
            lines=tuple(
                SaleLine(c, n, sp, q, a, f, tuple(Scan(*s) for s in scans))
                for c, n, sp, q, a, f, scans in data.get("lines", ())
            ),
            returned=tuple(ReturnedCode(*r) for r in data.get("returned", ())),
        )

    def serialized(self) -> Serialized:
        """The canonical JSON and its SHA-256: what is stored, and what idempotency compares.

        The same event_id with another hash is a conflict; with the same hash, a retry.
        """
        text = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return Serialized(text, hashlib.sha256(text.encode()).digest())


class Draft(NamedTuple):
    """An event as it arrived (raw scanned strings), with the structural problems its
    transport already found; `normalize_event` judges the rest."""

    event: Event
    violations: list[Violation]


class RegistryView(Protocol):
    """What validation needs to know of the reference data."""

    @property
    def manufacturer_prefixes(self) -> frozenset[str]: ...

    def party_exists(self, party_id: str) -> bool: ...

    def pack_units(self, product_key: str) -> int | None: ...


@dataclass
class _Checker:
    registry: RegistryView
    now: datetime
    max_future: timedelta
    violations: list[Violation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(Violation(path, description))

    def required(self, path: str, value: str) -> None:
        if not value.strip():
            self.add(path, "required")

    def trace_code(self, path: str, raw: str) -> TraceCode | None:
        try:
            return codes.parse_trace(raw, self.registry.manufacturer_prefixes)
        except CodeError as exc:
            self.add(path, f"{quote(exc.value)}: {exc.reason}")
            return None

    def units(self, path: str, units: int | None) -> None:
        if units is not None and not 0 < units <= hygiene.MAX_UNITS:
            self.add(path, f"units must be positive, at most {hygiene.MAX_UNITS}, got {units}")

    def text(self, path: str, value: str, kind: hygiene.TextKind) -> None:
        problem = hygiene.text_problem(value, kind)
        if problem is not None:
            self.add(path, problem)


def _valid_date(value: str) -> bool:
    if not (len(value) == 10 and value[4] == value[7] == "-" and hygiene.is_ascii_digits(value.replace("-", ""), 8)):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def normalize_event(
    draft: Event,
    registry: RegistryView,
    *,
    now: datetime | None = None,
    max_future: timedelta = timedelta(hours=1),
) -> Event:
    """Validate a draft and return it with canonical codes; raise InvalidEvent with every violation."""
    ck = _Checker(registry, now or datetime.now(UTC), max_future)
    _check_texts(ck, draft)
    ck.required("header.event_id", draft.event_id)
    ck.required("header.party_id", draft.party_id)
    if draft.party_id.strip() and not registry.party_exists(draft.party_id):
        ck.add("header.party_id", f"party {quote(draft.party_id)} is not in the registry")
    occurred = draft.occurred_at
    if occurred is None or occurred.tzinfo is None:
        ck.add("header.occurred_at", "required, with a time zone")
    elif occurred < _EARLIEST:
        ck.add("header.occurred_at", f"{occurred.isoformat()} is before 2000")
    elif occurred > ck.now + ck.max_future:
        ck.add("header.occurred_at", f"{occurred.isoformat()} is in the future (server time {ck.now.isoformat()})")

    if draft.kind is EventKind.SALE:
        event = _normalize_sale(draft, ck)
    elif draft.kind is EventKind.SALE_RETURN:
        event = _normalize_sale_return(draft, ck)
    else:
        event = _normalize_custody(draft, ck)
    total = len(event.code_rows())
    if total > MAX_CODES_PER_EVENT:
        ck.add("items", f"{total} codes in one event; at most {MAX_CODES_PER_EVENT}")
    if ck.violations:
        raise InvalidEvent(ck.violations)
    return event


def _normalize_custody(draft: Event, ck: _Checker) -> Event:
    cp_field = COUNTERPARTY_FIELD.get(draft.kind)
    if cp_field is not None:
        ck.required(cp_field, draft.counterparty_id)
    if draft.kind is EventKind.TRANSFER and draft.counterparty_id == draft.party_id:
        ck.add("to_party_id", "a transfer must go to another party")
    if not draft.items:
        ck.add("items", "at least one item is required")
    seen: dict[str, int] = {}
    items = []
    prefixes = ck.registry.manufacturer_prefixes
    for n, item in enumerate(draft.items):
        try:
            parsed: TraceCode | None = codes.parse_trace(item.code, prefixes)
        except CodeError as exc:  # (the path is built only for a bad code: this loop runs per box)
            ck.add(f"items[{n}].code", f"{quote(exc.value)}: {exc.reason}")
            parsed = None
        batch, expiry = item.batch.strip(), item.expiry.strip()
        if expiry and not _valid_date(expiry):
            ck.add(f"items[{n}].expiry", f"{quote(item.expiry)} is not a YYYY-MM-DD date")
        if draft.kind is EventKind.OPENING_STOCK:
            ck.required(f"items[{n}].source_document", item.source_document)
        if parsed is None:
            continue
        if parsed.canonical in seen:
            ck.add(f"items[{n}].code", f"{parsed.canonical} already listed as items[{seen[parsed.canonical]}]")
            continue
        seen[parsed.canonical] = n
        # GS1 codes carry batch and expiry: keep them when the item does not say otherwise.
        batch = batch or parsed.batch
        expiry = expiry or (parsed.expiry.isoformat() if parsed.expiry else "")
        items.append(Item(parsed.canonical, batch, expiry, item.source_document.strip()))
    return draft.evolve(items=tuple(items), counterparty_id=draft.counterparty_id.strip())


def _normalize_sale(draft: Event, ck: _Checker) -> Event:
    ck.required("sale_id", draft.sale_id)
    if not draft.lines:
        ck.add("lines", "at least one line is required")
    elif len(draft.lines) > hygiene.MAX_LINES:
        ck.add("lines", f"{len(draft.lines)} lines in one sale; at most {hygiene.MAX_LINES}")
        return draft
    # Units of each trace code across the whole event, to stop double scans at the counter.
    whole_scans: dict[str, list[str]] = defaultdict(list)
    unit_scans: dict[str, list[tuple[str, int]]] = defaultdict(list)
    product_of: dict[str, str] = {}
    lines = []
    for n, line in enumerate(draft.lines):
        path = f"lines[{n}]"
        _check_line_amounts(ck, path, line)
        scans = []
        for m, scan in enumerate(line.scans):
            spath = f"{path}.scanned[{m}]"
            ck.units(f"{spath}.units", scan.units)
            try:
                parsed = codes.parse(scan.code, ck.registry.manufacturer_prefixes)
            except CodeError as exc:
                ck.add(f"{spath}.code", f"{quote(exc.value)}: {exc.reason}")
                continue
            if isinstance(parsed, CommodityBarcode):
                scans.append(Scan(parsed.canonical, scan.units, is_trace=False))
                continue
            product_of[parsed.canonical] = parsed.product_key
            if scan.units is None:
                whole_scans[parsed.canonical].append(spath)
            else:
                unit_scans[parsed.canonical].append((spath, scan.units))
            scans.append(Scan(parsed.canonical, scan.units, is_trace=True))
        lines.append(
            SaleLine(
                line.insurance_code.strip(),
                line.item_name,
                line.split,
                line.quantity,
                line.amount_fen,
                line.fund_paid_fen,
                tuple(scans),
            )
        )
    for code, product_key in product_of.items():
        _check_double_scan(ck, code, ck.registry.pack_units(product_key), whole_scans[code], unit_scans[code])
    return draft.evolve(sale_id=draft.sale_id.strip(), lines=tuple(lines))


def _check_line_amounts(ck: _Checker, path: str, line: SaleLine) -> None:
    if not line.insurance_code.strip() and not line.item_name.strip():
        ck.add(f"{path}.insurance_code", "a line names its billed item by insurance_code or item_name")
    if not 0 < line.quantity <= hygiene.MAX_QUANTITY:
        ck.add(f"{path}.quantity", f"quantity must be positive, at most {hygiene.MAX_QUANTITY}, got {line.quantity}")
    if not 0 <= line.amount_fen <= hygiene.MAX_FEN:
        ck.add(f"{path}.amount_fen", f"must be 0 to {hygiene.MAX_FEN}")
    if not 0 <= line.fund_paid_fen <= hygiene.MAX_FEN:
        ck.add(f"{path}.fund_paid_fen", f"must be 0 to {hygiene.MAX_FEN}")
    elif line.fund_paid_fen > line.amount_fen:
        ck.add(f"{path}.fund_paid_fen", f"fund paid {line.fund_paid_fen} exceeds the amount {line.amount_fen}")


def _check_double_scan(
    ck: _Checker, code: str, pack: int | None, wholes: list[str], parts: list[tuple[str, int]]
) -> None:
    """A sale may hand out at most one pack of a code: more is a scanner artefact (DESIGN §4)."""
    if pack is None:  # unknown product: only a whole pack plus anything more is certainly too much
        if len(wholes) + (1 if parts and wholes else 0) > 1:
            last = (wholes + [p for p, _ in parts])[-1]
            ck.add(f"{last}.code", f"{code} scanned more than once in this sale (double scan)")
        return
    total = pack * len(wholes) + sum(u for _, u in parts)
    if total > pack:
        last = (wholes + [p for p, _ in parts])[-1]
        ck.add(f"{last}.code", f"{code}: {total} units in this sale exceed its pack of {pack} (double scan?)")


def _normalize_sale_return(draft: Event, ck: _Checker) -> Event:
    ck.required("sale_id", draft.sale_id)
    if not draft.returned:
        ck.add("codes", "at least one code is required")
    seen: set[str] = set()
    returned = []
    for n, r in enumerate(draft.returned):
        ck.units(f"codes[{n}].units", r.units)
        parsed = ck.trace_code(f"codes[{n}].code", r.code)
        if parsed is None:
            continue
        if parsed.canonical in seen:
            ck.add(f"codes[{n}].code", f"{parsed.canonical} listed twice")
            continue
        seen.add(parsed.canonical)
        returned.append(ReturnedCode(parsed.canonical, r.units))
    return draft.evolve(sale_id=draft.sale_id.strip(), returned=tuple(returned))


def _texts(draft: Event) -> list[tuple[list[str], hygiene.TextKind]]:
    """Every text field of an event, a column per kind of field (for `hygiene.all_clean`)."""
    header = [
        draft.event_id,
        draft.party_id,
        draft.document_no,
        draft.counterparty_id,
        draft.sale_id,
        draft.buyer_token,
    ]
    items, lines = draft.items, draft.lines[: hygiene.MAX_LINES]
    return [
        (header, hygiene.ID),
        ([i.code for i in items], hygiene.CODE),
        ([i.batch for i in items], hygiene.SHORT),
        ([i.expiry for i in items], hygiene.SHORT),
        ([i.source_document for i in items], hygiene.ID),
        ([ln.insurance_code for ln in lines], hygiene.SHORT),
        ([ln.item_name for ln in lines], hygiene.NAME),
        ([s.code for ln in lines for s in ln.scans] + [r.code for r in draft.returned], hygiene.CODE),
    ]


def _check_texts(ck: _Checker, draft: Event) -> None:
    """Length limits and no control characters in any text field (DESIGN §8), before anything
    else reads them: a value that fails here never reaches a column or a message in full.

    The usual event passes in one pass a column at a time, in C (`hygiene.all_clean`); only an
    event that does not is checked field by field, to name the fields that fail."""
    if hygiene.all_clean(_texts(draft)):
        return
    for path, value in (
        ("header.event_id", draft.event_id),
        ("header.party_id", draft.party_id),
        ("header.document_no", draft.document_no),
        (COUNTERPARTY_FIELD.get(draft.kind, "counterparty_id"), draft.counterparty_id),
        ("sale_id", draft.sale_id),
        ("buyer_token", draft.buyer_token),
    ):
        ck.text(path, value, hygiene.ID)
    for n, item in enumerate(draft.items):
        ck.text(f"items[{n}].code", item.code, hygiene.CODE)
        ck.text(f"items[{n}].batch", item.batch, hygiene.SHORT)
        ck.text(f"items[{n}].expiry", item.expiry, hygiene.SHORT)
        ck.text(f"items[{n}].source_document", item.source_document, hygiene.ID)
    for n, line in enumerate(draft.lines[: hygiene.MAX_LINES]):
        ck.text(f"lines[{n}].insurance_code", line.insurance_code, hygiene.SHORT)
        ck.text(f"lines[{n}].item_name", line.item_name, hygiene.NAME)
        for m, scan in enumerate(line.scans):
            ck.text(f"lines[{n}].scanned[{m}].code", scan.code, hygiene.CODE)
    for n, r in enumerate(draft.returned):
        ck.text(f"codes[{n}].code", r.code, hygiene.CODE)
