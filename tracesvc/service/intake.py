"""Intake use case (no gRPC, no HTTP): map an NHSA message or an EPCIS document, ingest its drafts through
the one Ingestor every entry point uses, keep its evidence, and say what became of every row or event."""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain import hygiene
from tracesvc.domain.events import Draft, InvalidEvent, Violation, normalize_event
from tracesvc.intake import epcis, nhsa
from tracesvc.intake.model import DocumentError, Evidence, EvidenceKind, Intake, Mapped
from tracesvc.service.access import READERS, UNRESTRICTED, Principal, Role
from tracesvc.service.ingest import Ack, AckKind, IngestsDrafts
from tracesvc.store import intake as store
from tracesvc.store.registry import RegistryCache

log = structlog.get_logger(__name__)


class Status(StrEnum):
    STORED = "STORED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    CONFLICT = "CONFLICT"
    DENIED = "DENIED"
    SKIPPED = "SKIPPED"
    NOT_STORED = "NOT_STORED"  # valid, but its capture was rolled back for another event's error


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one row (NHSA) or event (EPCIS) of a document."""

    position: str
    rows: tuple[int, ...]
    event_id: str
    status: Status
    message: str = ""
    violations: tuple[Violation, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "position": self.position,
            "rows": list(self.rows),
            "event_id": self.event_id,
            "status": self.status.value,
        }
        if self.message:
            out["message"] = self.message
        if self.violations:
            out["violations"] = [{"field": v.field, "description": v.description} for v in self.violations]
        return out


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(r.status.value for r in self.results)

    @property
    def ok(self) -> bool:
        """Nothing rejected, denied or in conflict (skipped rows are fine)."""
        return all(r.status in (Status.STORED, Status.DUPLICATE, Status.SKIPPED) for r in self.results)

    def ordered(self) -> list[Result]:
        return sorted(self.results, key=lambda r: (r.rows[0] if r.rows else -1, r.position))


_FROM_ACK = {
    AckKind.STORED: Status.STORED,
    AckKind.DUPLICATE: Status.DUPLICATE,
    AckKind.REJECTED: Status.REJECTED,
    AckKind.DENIED: Status.DENIED,
    AckKind.CONFLICT: Status.CONFLICT,
}
_GLN_FIELDS = ("sourceList", "destinationList", "bizLocation", "readPoint")


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    hmac_key: bytes  # buyer tokens, as for every entry point (domain.privacy)
    zone: tzinfo = nhsa.CHINA_STANDARD_TIME  # NHSA times are the party's local time
    max_future: timedelta = timedelta(hours=1)  # as the Ingestor's, for the rollback dry run


class IntakeService:
    def __init__(
        self, engine: AsyncEngine, ingestor: IngestsDrafts, registry: RegistryCache, settings: IntakeSettings
    ) -> None:
        self._engine = engine
        self._ingestor = ingestor
        self._registry = registry
        self._key = settings.hmac_key
        self._zone = settings.zone
        self._max_future = settings.max_future

    async def record_capture(self, principal: Principal, behaviour: str, report: Report) -> str:
        """Keep an EPCIS capture's per-event results for `GET /epcis/capture/{id}`; return its id."""
        capture_id = secrets.token_hex(12)
        await store.create_capture(self._engine, capture_id, principal.key_id)
        results = {
            "captureErrorBehaviour": behaviour,
            "counts": dict(report.counts()),
            "results": [r.to_json() for r in report.ordered()],
        }
        await store.finish_capture(self._engine, capture_id, report.ok, results)
        return capture_id

    async def capture(self, principal: Principal, capture_id: str) -> store.Capture | None:
        """A capture the caller may see: its own, or any for a reader (None otherwise, or when unknown)."""
        found = await store.get_capture(self._engine, capture_id)
        if found is None:
            return None
        if found.key_id == principal.key_id or principal.role in READERS or principal.unrestricted:
            return found
        return None

    async def stored_event(self, principal: Principal, event_id: str) -> store.StoredEvent | None:
        """A captured event, for a reader or the party that reported it (None otherwise, or when unknown)."""
        found = await store.stored_event(self._engine, event_id)
        if found is None:
            return None
        if principal.role in READERS or principal.unrestricted:
            return found
        return found if principal.may_act_for(found.party_id, self._registry.chain_of) else None

    async def nhsa(
        self, message: object, principal: Principal = UNRESTRICTED, *, infno: str = "", party_id: str = ""
    ) -> Report:
        """One NHSA message; DocumentError when it is not one."""
        suppliers = await store.resolve_suppliers(self._engine, *nhsa.supplier_refs(message))
        options = nhsa.NhsaOptions(
            hmac_key=self._key,
            zone=self._zone,
            infno=infno,
            party_id=party_id or principal.party_id or "",
            supplier_of=suppliers.resolve,
        )
        intake = nhsa.map_message(message, options)
        await self._deletions_as_retractions(intake)
        report = await self._ingest(intake, principal, rollback=False)
        await self._keep_row_serials(intake, report)
        return report

    async def _deletions_as_retractions(self, intake: Intake) -> None:
        """A 3507 row retracts every event its party stored under the row serial and data type it names
        (kept, as an EPCIS errorDeclaration is, in intake_evidence); naming nothing stored, it is skipped."""
        if not intake.deletions:
            return
        party = intake.deletions[0].party_id
        stored = await store.events_of_nhsa_rows(
            self._engine, party, [(d.data_type, d.serial) for d in intake.deletions]
        )
        for d in intake.deletions:
            targets = stored.get((d.data_type, d.serial), [])
            if not targets:
                reason = (
                    f"nothing stored under fixmedins_bchno {d.serial} (inv_data_type {d.data_type}): nothing to delete"
                )
                intake.skip(d.position, d.rows, reason)
            for target in targets:
                evidence_id = nhsa.event_id(party, nhsa.DELETE, f"{d.data_type}:{d.serial}:{target}")
                intake.evidence.append(
                    Evidence(
                        d.position,
                        d.rows,
                        EvidenceKind.RETRACTION,
                        evidence_id,
                        party,
                        d.occurred_at,
                        target_event_id=target,
                        reason=f"NHSA 3507 deletion of row {d.serial}",
                        payload=d.payload,
                    )
                )

    async def _keep_row_serials(self, intake: Intake, report: Report) -> None:
        """Remember under which row serials each stored (or re-sent) event came, for a later 3507."""
        kept = {r.event_id for r in report.results if r.status in (Status.STORED, Status.DUPLICATE)}
        rows = [
            (data_type, serial, m.draft.event_id)
            for m in intake.mapped
            if m.draft.event_id in kept
            for data_type, serial in m.aliases
        ]
        if rows:
            await store.record_nhsa_rows(self._engine, intake.mapped[0].draft.party_id, rows)

    async def epcis(self, document: object, principal: Principal = UNRESTRICTED, *, rollback: bool = False) -> Report:
        """One EPCIS document; DocumentError when it is not one. With `rollback`, all or nothing."""
        glns = await store.resolve_glns(self._engine, _glns_in(epcis.event_list(document)))
        intake = epcis.map_document(document, glns.get, default_party=principal.party_id or "")
        return await self._ingest(intake, principal, rollback=rollback, field_name=epcis_field)

    async def _ingest(
        self, intake: Intake, principal: Principal, *, rollback: bool, field_name: Callable[[str], str] = str
    ) -> Report:
        report = Report()
        for u in intake.unmapped:
            report.results.append(
                Result(u.position, u.rows, u.event_id, Status.SKIPPED if u.skipped else Status.REJECTED, u.reason)
            )
        # In rollback mode every event is checked, so each one's own problem is reported, not only the first.
        if rollback and (not await self._all_valid(intake.mapped, principal, report, field_name) or intake.rejected):
            report.results += [
                Result(
                    m.position,
                    m.rows,
                    m.draft.event_id,
                    Status.NOT_STORED,
                    "capture rolled back: another event has an error",
                )
                for m in intake.mapped
                if m.draft.event_id not in {r.event_id for r in report.results}
            ]
            report.results += [
                Result(e.position, e.rows, e.event_id, Status.NOT_STORED, "capture rolled back")
                for e in intake.evidence
            ]
            return report
        acks = await self._ingestor.ingest([Draft(m.draft, list(m.violations)) for m in intake.mapped], principal)
        for m, ack in zip(intake.mapped, acks, strict=True):
            report.results.append(_result(m, ack, field_name))
        report.results += await self._evidence(intake.evidence, principal)
        log.info("intake", **{k.lower(): v for k, v in report.counts().items()})
        return report

    async def _all_valid(
        self, mapped: Sequence[Mapped], principal: Principal, report: Report, field_name: Callable[[str], str]
    ) -> bool:
        """Dry run of the Ingestor's checks, for an all-or-nothing capture; failures go to `report`."""
        await self._registry.refresh()
        await self._registry.ensure_parties({m.draft.party_id for m in mapped})
        ok = True
        for m in mapped:
            problem = principal.write_denial(m.draft.kind, m.draft.party_id, self._registry.chain_of)
            violations = list(m.violations)
            if problem is None:
                try:
                    normalize_event(m.draft, self._registry, max_future=self._max_future)
                except InvalidEvent as exc:
                    violations += exc.violations
            if problem or violations:
                ok = False
                violations = list(_renamed(violations, field_name))
                message = problem or "; ".join(f"{v.field}: {v.description}" for v in violations[:3])
                report.results.append(
                    Result(
                        m.position,
                        m.rows,
                        m.draft.event_id,
                        Status.DENIED if problem else Status.REJECTED,
                        message,
                        tuple(violations),
                    )
                )
        return ok

    async def _evidence(self, items: Sequence[Evidence], principal: Principal) -> list[Result]:
        """Keep decommissionings and retractions; a retraction only by the reporter of what it retracts."""
        if not items:
            return []
        targets = await store.parties_of_events(self._engine, [e.target_event_id for e in items if e.target_event_id])
        await self._registry.ensure_parties({e.party_id for e in items} | set(targets.values()))
        results: list[Result | None] = [None] * len(items)
        rows: list[store.EvidenceRow] = []
        at: list[int] = []
        for i, e in enumerate(items):
            if e.kind is EvidenceKind.RETRACTION and e.target_event_id not in targets:
                # Nothing to retract: an errorDeclaration of an event this service never stored
                # (another system's, or one that was refused) is skipped, not an error.
                reason = f"retracts {e.target_event_id}, which was never stored here: nothing to retract"
                results[i] = Result(e.position, e.rows, e.event_id, Status.SKIPPED, reason)
                continue
            party = e.party_id or targets.get(e.target_event_id, "")
            denial = self._evidence_denial(e, party, targets.get(e.target_event_id), principal)
            if denial:
                results[i] = Result(
                    e.position, e.rows, e.event_id, Status.DENIED if "may not" in denial else Status.REJECTED, denial
                )
                continue
            rows.append(
                store.EvidenceRow(
                    e.event_id,
                    e.kind.value,
                    party,
                    e.occurred_at,
                    e.target_event_id,
                    e.codes,
                    e.reason[:500],
                    e.payload,
                )
            )
            at.append(i)
        for i, new in zip(at, await store.store_evidence(self._engine, rows), strict=True):
            e = items[i]
            results[i] = Result(
                e.position,
                e.rows,
                e.event_id,
                Status.STORED if new else Status.DUPLICATE,
                f"retracts {e.target_event_id}"
                if e.kind is EvidenceKind.RETRACTION
                else "decommissioning kept as evidence",
            )
        return [r for r in results if r is not None]

    def _evidence_denial(self, e: Evidence, party: str, target_party: str | None, principal: Principal) -> str:
        if not party:
            return "no party: no bizLocation mapped to a registry party, and the key names none"
        if not principal.may_act_for(party, self._registry.chain_of):
            return f"this key may not write evidence of party {party}"
        if (
            target_party is not None
            and target_party != party
            and principal.role is not Role.REGULATOR
            and not principal.unrestricted
        ):
            return f"this key may not retract {e.target_event_id}: it was reported by party {target_party}"
        return ""


def _result(m: Mapped, ack: Ack, field_name: Callable[[str], str] = str) -> Result:
    violations = _renamed(ack.violations, field_name)
    message = ack.message
    if field_name is not str:
        for old, new in zip(ack.violations, violations, strict=True):
            message = message.replace(f"{old.field}:", f"{new.field}:")
    return Result(m.position, m.rows, m.draft.event_id or ack.event_id, _FROM_ACK[ack.kind], message, violations)


def _renamed(violations: Sequence[Violation], field_name: Callable[[str], str]) -> tuple[Violation, ...]:
    return tuple(Violation(field_name(v.field), v.description) for v in violations)


# Where an event's fields come from in an EPCIS event: a refusal names the EPCIS field, not ours.
_EPCIS_FIELDS = (
    ("supplier_id", "sourceList"),
    ("receiver_id", "destinationList"),
    ("party_id", "bizLocation"),
    ("occurred_at", "eventTime"),
    ("document_no", "bizTransactionList"),
    ("items", "epcList"),
    ("lines", "epcList"),
)


def epcis_field(field: str) -> str:
    """`items[2].code` → `epcList[2]`, `supplier_id` → `sourceList`: the EPCIS name of an event's field."""
    for ours, theirs in _EPCIS_FIELDS:
        if field == ours or field.startswith((ours + ".", ours + "[")):
            rest = field[len(ours) :]
            if ours in ("items", "lines"):
                rest = rest.split(".", 1)[0] if rest.startswith("[") else ""
            return theirs + rest
    return field


def _glns_in(events: Sequence[Any]) -> set[str]:
    """Every GLN an event names where parties are named (sources, destinations, locations)."""
    found: set[str] = set()
    for ev in events:
        if isinstance(ev, dict):
            for name in _GLN_FIELDS:
                _walk_glns(ev.get(name), found)
    return found


def _walk_glns(value: object, found: set[str]) -> None:
    if isinstance(value, str):
        gln = epcis.gln_of(value)
        if gln:
            found.add(gln)
    elif isinstance(value, dict | list):
        for v in value.values() if isinstance(value, dict) else value:
            _walk_glns(v, found)


def read_document(content: bytes) -> Any:
    """A foreign document's JSON, refused (DocumentError naming where) when it is not JSON or holds a
    string no intake field may hold: the HTTP intake and ImportDocument read documents alike."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise DocumentError(where, f"not JSON: {str(exc)[:80]}") from None
    problem = _hostile_string(document)
    if problem is not None:
        raise DocumentError(problem[0], problem[1])
    return document


# Any one string value of a document (names, notes); ids are checked per field by normalize_event.
_JSON_TEXT = hygiene.TextKind(4000, re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1c\x1e\x1f\x7f-\x9f\ufffe\uffff]"))


def _hostile_string(document: Any) -> tuple[str, str] | None:
    """(JSON path, reason) of the first string no intake field may hold: control characters (but
    tab, line breaks and GS, the GS1 separator), lone surrogates, or more than 4,000 characters."""
    todo: list[tuple[str, Any]] = [("$", document)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict):
            todo.extend((f"{path}.{str(k)[:40]}", v) for k, v in value.items())
            todo.extend((f"{path}.<key>", k) for k in value)
        elif isinstance(value, list):
            todo.extend((f"{path}[{n}]", v) for n, v in enumerate(value))
        elif isinstance(value, str):
            problem = hygiene.text_problem(value, _JSON_TEXT)
            if problem is not None:
                return path, problem
    return None
