"""GS1 EPCIS 2.0 JSON-LD documents (EPCISDocument, EPCISQueryDocument) → event drafts.

DESIGN.md §7 "Intake adapters". Only ObjectEvents of serialised items (SGTIN URNs or GS1 Digital
Link URIs, → the canonical `(01)GTIN(21)serial`) carry trace-code custody:
- bizStep receiving → RECEIPT at the destination owning party (else the bizLocation's, else the
  readPoint's party); no source named → the supplier is UNKNOWN_SOURCE (rule L: unknown supplier),
  supplier = the source owning party;
- shipping → SHIPMENT by the source owning party (else bizLocation), receiver = destination owner;
- dispensing / retail_selling → SALE at the bizLocation's party (one line per GTIN);
- decommissioning → Evidence (no custody change);
- an event carrying `errorDeclaration` → Evidence of kind RETRACTION naming the event it restates.
Everything else (other event types, class-level quantityList only, SSCCs, transport, sensor
reports, other bizSteps) is reported as skipped with its position and reason.

The event id is the eventID, or the CBV 2.0 event hash when absent, computed by the MIT package
`epcis-event-hash-generator` (its JSON-LD contexts are loaded from the package, never fetched).
Parties are named by PGLN/SGLN; `resolve_gln(gln13)` maps a GLN to a registry party (or None).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from epcis_event_hash_generator import file_document_loader, hash_generator, json_to_py
from pyld import jsonld

from tracesvc.domain.codes import gs1_check_digit
from tracesvc.domain.events import Event, EventKind, Item, SaleLine, Scan, Violation
from tracesvc.intake.model import DocumentError, Evidence, EvidenceKind, Intake, Mapped, short

# The supplier of a receiving whose sourceList names none: no registry party has this id, so rule L
# judges the receipt as one from an unknown supplier (UNLICENSED_SUPPLIER).
UNKNOWN_SOURCE = "epcis:unknown-source"

MAX_EVENTS = 10_000
_GLN_LEN = 13
_GTIN13 = 13
_GTIN_LENGTHS = (8, 12, 13, 14)
BIZSTEP_KIND = {
    "receiving": EventKind.RECEIPT,
    "shipping": EventKind.SHIPMENT,
    "dispensing": EventKind.SALE,
    "retail_selling": EventKind.SALE,
}
DECOMMISSIONING = "decommissioning"
_BIZSTEP_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/BizStep-",
    "http://ref.gs1.org/cbv/BizStep-",
    "cbv:BizStep-",
    "gs1:BizStep-",
)
_SGTIN_URN = re.compile(r"^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.(.+)$")
_GLN_URN = re.compile(r"^urn:epc:id:(pgln|sgln):(\d{6,12})\.(\d{0,6})(?:\.(.*))?$")
_DL_GTIN = re.compile(r"(?:^|/)01/(\d{8,14})(?:/|$)")
_OWNING = ("owning_party", "possessing_party", "location")
ResolveGln = Callable[[str], str | None]


class _At(NamedTuple):
    """One event of the document: its index, position, id and time."""

    n: int
    position: str
    event_id: str
    when: datetime | None


log = logging.getLogger(__name__)


# -- identifiers ---------------------------------------------------------------------------------


def sgtin_to_code(epc: str) -> str | None:
    """The canonical GS1 trace code of an SGTIN URN or a Digital Link URI with (01) and (21); None otherwise."""
    value = epc.strip()
    m = _SGTIN_URN.match(value)
    if m:
        company, item, serial = m.groups()
        if len(company) + len(item) != _GTIN13:
            return None
        body = item[0] + company + item[1:]
        return f"(01){body}{gs1_check_digit(body)}(21){unquote(serial)}"
    if value.startswith(("http://", "https://")):
        path = urlsplit(value).path
        segments = [unquote(s) for s in path.split("/")]
        if "01" not in segments:
            return None
        start = segments.index("01")
        pairs = dict(zip(segments[start::2], segments[start + 1 :: 2], strict=False))
        gtin, serial = pairs.get("01", ""), pairs.get("21", "")
        if gtin.isdigit() and len(gtin) in _GTIN_LENGTHS and serial:
            return f"(01){gtin.zfill(14)}(21){serial}"
    return None


def gln_of(identifier: str) -> str | None:
    """The 13-digit GLN of a PGLN/SGLN URN or a Digital Link (417 party, 414 location); None otherwise."""
    value = identifier.strip()
    m = _GLN_URN.match(value)
    if m:
        _, company, ref, _ext = m.groups()
        body = company + ref
        return body + str(gs1_check_digit(body)) if len(body) == _GLN_LEN - 1 else None
    if value.startswith(("http://", "https://")):
        segments = urlsplit(value).path.split("/")
        for i in range(len(segments) - 1):
            if segments[i] in ("417", "414") and segments[i + 1].isdigit() and len(segments[i + 1]) == _GLN_LEN:
                return segments[i + 1]
    if value.isdigit() and len(value) == _GLN_LEN:
        return value
    return None


def bizstep(value: object) -> str:
    """The bare CBV name of a bizStep in any of its forms (bare, URN, Web URI, CURIE)."""
    text = value.strip() if isinstance(value, str) else ""
    for prefix in _BIZSTEP_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


# -- documents -----------------------------------------------------------------------------------


def event_list(document: object) -> list[Any]:
    """The events of an EPCISDocument or an EPCISQueryDocument; DocumentError when there are none to read."""
    if not isinstance(document, dict):
        raise DocumentError("", "an EPCIS document is a JSON object")
    kind = document.get("type")
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        raise DocumentError("epcisBody", "required")
    if kind == "EPCISQueryDocument":
        results = body.get("queryResults", {})
        events = results.get("resultsBody", {}).get("eventList") if isinstance(results, dict) else None
        where = "epcisBody.queryResults.resultsBody.eventList"
    elif kind == "EPCISDocument":
        events = body.get("eventList", [body["event"]] if "event" in body else None)
        where = "epcisBody.eventList"
    else:
        raise DocumentError("type", f"{short(kind)} is neither EPCISDocument nor EPCISQueryDocument")
    if not isinstance(events, list):
        raise DocumentError(where, "required: a list of events")
    if len(events) > MAX_EVENTS:
        raise DocumentError(where, f"{len(events)} events; at most {MAX_EVENTS} in one document")
    return events


def _position(document: dict[str, Any], n: int) -> str:
    if document.get("type") == "EPCISQueryDocument":
        return f"epcisBody.queryResults.resultsBody.eventList[{n}]"
    return f"epcisBody.eventList[{n}]"


def event_hashes(document: dict[str, Any]) -> list[str]:
    """The CBV 2.0 event hash (`ni:///sha-256;…?ver=CBV2.0`) of each event, in document order.

    Fields the document lists in an `…:ignoreFields` header are left out first (the reference
    examples' convention for repository-added fields such as a stored hash or a capture id).
    """
    events = copy.deepcopy(event_list(document))
    ignored = _ignored_fields(document)
    for ev in events:
        if isinstance(ev, dict):
            for name in ignored:
                ev.pop(name, None)
    # The hash generator reads an EPCISDocument's eventList; a query document's events go the same way.
    doc = {"@context": document.get("@context", []), "type": "EPCISDocument", "epcisBody": {"eventList": events}}
    json_to_py._namespaces.clear()  # module-level state of the package: start each document clean
    parsed = json_to_py.event_list_from_epcis_document_json(doc)
    hashes = hash_generator.epcis_hashes_from_events(parsed)
    if len(hashes) != len(parsed[2]):
        raise ValueError("the event hash generator could not read every event")
    return list(hashes)


def _ignored_fields(document: dict[str, Any]) -> list[str]:
    body = document.get("epcisBody")
    results = body.get("queryResults") if isinstance(body, dict) else None
    for holder in (document, results if isinstance(results, dict) else {}):
        for key, value in holder.items():
            if key.split(":")[-1] == "ignoreFields" and isinstance(value, list):
                return [v for v in value if isinstance(v, str)]
    return []


_PACKAGED_CONTEXTS = frozenset(
    {
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    }
)
_packaged_loader = file_document_loader.file_document_loader()


def _offline_loader(url: str, options: dict[str, Any] | None = None) -> Any:
    """The package resolves the two GS1 EPCIS contexts from its own files; any other remote context is
    refused, never fetched (nothing may download at run time)."""
    if url in _PACKAGED_CONTEXTS:
        return _packaged_loader(url, options or {})
    raise jsonld.JsonLdError(
        f"remote JSON-LD context {url!r} is not loaded (no network at run time)",
        "jsonld.LoadDocumentError",
        code="loading document failed",
    )


jsonld.set_document_loader(_offline_loader)


# -- mapping -------------------------------------------------------------------------------------


def map_document(document: object, resolve_gln: ResolveGln, *, default_party: str = "") -> Intake:
    """Map every event of an EPCIS 2.0 document; raise DocumentError when it is not one.

    `default_party` is the reporting party when an event names none (a POS or SUPPLIER key's own party).
    """
    events = event_list(document)
    assert isinstance(document, dict)
    out = Intake()
    hashes: list[str] | None = None
    if any(isinstance(e, dict) and not e.get("eventID") for e in events):
        try:
            hashes = event_hashes(document)
        except Exception as exc:  # noqa: BLE001  # a third-party parser: any failure is the document's
            log.info("event hash failed: %s", exc)
            hashes = None
    mapper = _EventMapper(resolve_gln, default_party, out)
    for n, ev in enumerate(events):
        position = _position(document, n)
        if not isinstance(ev, dict):
            out.reject(position, (n,), "an event must be a JSON object")
            continue
        eid = str(ev.get("eventID") or "").strip() or (hashes[n] if hashes else "")
        if not eid:
            out.reject(position, (n,), "no eventID, and the CBV 2.0 event hash could not be computed")
            continue
        mapper.map(ev, _At(n, position, eid, _event_time(ev.get("eventTime"))))
    return out


class _EventMapper:
    def __init__(self, resolve_gln: ResolveGln, default_party: str, out: Intake) -> None:
        self.resolve_gln, self.default_party, self.out = resolve_gln, default_party, out

    def party(self, identifier: str) -> str | None:
        gln = gln_of(identifier)
        return self.resolve_gln(gln) if gln else None

    def _listed(self, ev: dict[str, Any], list_name: str, item_name: str) -> str:
        entries = ev.get(list_name)
        if not isinstance(entries, list):
            return ""
        by_type: dict[str, str] = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get(item_name), str):
                by_type.setdefault(str(entry.get("type", "")).split("-")[-1].split(":")[-1], entry[item_name])
        for kind in _OWNING:
            if kind in by_type:
                return by_type[kind]
        return ""

    def _location(self, ev: dict[str, Any]) -> str:
        """Where the event happened: its bizLocation, else its readPoint (GS1's own single-event
        examples are located only by a readPoint)."""
        for name in ("bizLocation", "readPoint"):
            loc = ev.get(name)
            if isinstance(loc, dict) and isinstance(loc.get("id"), str) and loc["id"].strip():
                return loc["id"]
        return ""

    def map(self, ev: dict[str, Any], at: _At) -> None:
        n, position, eid, when = at
        step = bizstep(ev.get("bizStep"))
        codes = [c for c in (sgtin_to_code(e) for e in ev.get("epcList", []) if isinstance(e, str)) if c]
        if "errorDeclaration" in ev:
            self._retraction(ev, at)
            return
        if ev.get("type") != "ObjectEvent":
            self.out.skip(position, (n,), f"{short(ev.get('type'))} carries no trace-code custody", eid)
            return
        if when is None:
            self.out.reject(
                position, (n,), f"eventTime {short(ev.get('eventTime'))} is not an ISO time with an offset", eid
            )
            return
        if not codes:
            self.out.skip(
                position,
                (n,),
                "no serialised item (SGTIN or Digital Link with (01) and (21)): no "
                "trace-code custody (class-level quantityList, SSCC, sensor data…)",
                eid,
            )
            return
        if step == DECOMMISSIONING:
            self._evidence(ev, at, codes)
            return
        kind = BIZSTEP_KIND.get(step)
        if kind is None:
            self.out.skip(position, (n,), f"bizStep {short(step or '(none)')} carries no custody change", eid)
            return
        self._custody(ev, at, kind, codes)

    def _reporter(self, kind: EventKind, ev: dict[str, Any]) -> tuple[str, str, str]:
        """(party_id, counterparty_id, where the party came from), by kind."""
        source = self._listed(ev, "sourceList", "source")
        destination = self._listed(ev, "destinationList", "destination")
        location = self._location(ev)
        if kind is EventKind.RECEIPT:
            own, other = destination or location, source
        elif kind is EventKind.SHIPMENT:
            own, other = source or location, destination
        else:
            own, other = location, ""
        party = (self.party(own) if own else None) or ("" if own else self.default_party)
        counterparty = (self.party(other) or gln_of(other) or other) if other else ""
        if kind is EventKind.RECEIPT and not counterparty:
            # A receiving with no sourceList is kept: its supplier is unknown, which is rule L's to judge.
            counterparty = UNKNOWN_SOURCE
        return party, counterparty, own

    def _custody(self, ev: dict[str, Any], at: _At, kind: EventKind, codes: list[str]) -> None:
        n, position, eid, when = at
        assert when is not None
        party, counterparty, own = self._reporter(kind, ev)
        if not party:
            reason = (
                f"{short(own)} is not mapped to a registry party (register its GLN)"
                if own
                else "no party: no owning party (sourceList, destinationList), bizLocation or readPoint, "
                "and no default party"
            )
            self.out.reject(position, (n,), reason, eid)
            return
        violations: list[Violation] = []
        document_no = _transaction(ev)
        if kind is EventKind.SALE:
            by_gtin: dict[str, list[str]] = {}
            for code in codes:
                by_gtin.setdefault(code[4:18], []).append(code)
            lines = tuple(
                SaleLine(
                    insurance_code="", item_name=f"GTIN {gtin}", quantity=len(cs), scans=tuple(Scan(c) for c in cs)
                )
                for gtin, cs in by_gtin.items()
            )
            draft = Event(eid, kind, party, when, document_no, sale_id=document_no or eid, lines=lines)
        else:
            draft = Event(
                eid,
                kind,
                party,
                when,
                document_no,
                counterparty_id=counterparty,
                items=tuple(Item(c) for c in dict.fromkeys(codes)),
            )
        self.out.mapped.append(Mapped(position, (n,), draft, tuple(violations)))

    def _evidence(self, ev: dict[str, Any], at: _At, codes: list[str]) -> None:
        n, position, eid, when = at
        assert when is not None
        own = self._location(ev)
        party = (self.party(own) if own else None) or self.default_party
        self.out.evidence.append(
            Evidence(position, (n,), EvidenceKind.DECOMMISSIONING, eid, party, when, codes=tuple(codes), payload=ev)
        )

    def _retraction(self, ev: dict[str, Any], at: _At) -> None:
        n, position, eid, when = at
        decl = ev.get("errorDeclaration")
        decl = decl if isinstance(decl, dict) else {}
        declared = _event_time(decl.get("declarationTime")) or when
        if declared is None:
            self.out.reject(position, (n,), "errorDeclaration without a declarationTime or eventTime", eid)
            return
        own = self._location(ev)
        party = (self.party(own) if own else None) or self.default_party
        reason = decl.get("reason") if isinstance(decl.get("reason"), str) else ""
        self.out.evidence.append(
            Evidence(
                position,
                (n,),
                EvidenceKind.RETRACTION,
                f"retract:{eid}"[:128],
                party,
                declared,
                target_event_id=eid,
                reason=str(reason),
                payload=ev,
            )
        )


def _transaction(ev: dict[str, Any]) -> str:
    entries = ev.get("bizTransactionList")
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("bizTransaction"), str):
                return entry["bizTransaction"].strip()[:128]
    return ""


def _event_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
