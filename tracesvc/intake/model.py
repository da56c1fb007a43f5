"""What an intake adapter returns for one document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tracesvc.domain.events import Event, Violation


class EvidenceKind(StrEnum):
    DECOMMISSIONING = "DECOMMISSIONING"  # EPCIS: codes taken out of use; no custody change
    RETRACTION = "RETRACTION"  # EPCIS errorDeclaration: the named event is declared erroneous


@dataclass(frozen=True, slots=True)
class Mapped:
    """A draft for the Ingestor, with the document rows it came from."""

    position: str  # e.g. "input.selinfo[3]" or "epcisBody.eventList[2]"
    rows: tuple[int, ...]
    draft: Event
    violations: tuple[Violation, ...] = ()  # structural problems found while mapping: the ack will be REJECTED
    # NHSA: (inv_data_type, fixmedins_bchno) of the rows, by which a later 3507 deletes the event
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A row or event that becomes no event: rejected (an error to fix) or skipped (nothing to map)."""

    position: str
    rows: tuple[int, ...]
    reason: str
    skipped: bool = False
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Kept as evidence, no custody change. A RETRACTION names in `target_event_id` the event it retracts."""

    position: str
    rows: tuple[int, ...]
    kind: EvidenceKind
    event_id: str
    party_id: str
    occurred_at: datetime
    target_event_id: str = ""
    codes: tuple[str, ...] = ()
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Deletion:
    """An NHSA 3507 row: retract what the party stored under a row serial (fixmedins_bchno) of a data
    type (inv_data_type: 1 stock count, 2 stock change, 3 purchase, 4 sale). The service finds the events."""

    position: str
    rows: tuple[int, ...]
    party_id: str
    data_type: str
    serial: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Intake:
    mapped: list[Mapped] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)

    def reject(self, position: str, rows: tuple[int, ...], reason: str, event_id: str = "") -> None:
        self.unmapped.append(Unmapped(position, rows, reason, skipped=False, event_id=event_id))

    def skip(self, position: str, rows: tuple[int, ...], reason: str, event_id: str = "") -> None:
        self.unmapped.append(Unmapped(position, rows, reason, skipped=True, event_id=event_id))

    @property
    def rejected(self) -> list[Unmapped]:
        return [u for u in self.unmapped if not u.skipped]

    @property
    def skipped(self) -> list[Unmapped]:
        return [u for u in self.unmapped if u.skipped]


class DocumentError(ValueError):
    """The document as a whole cannot be read (not JSON, no envelope, unknown infno...)."""

    def __init__(self, position: str, reason: str) -> None:
        super().__init__(f"{position}: {reason}" if position else reason)
        self.position = position
        self.reason = reason


def short(value: object, limit: int = 40) -> str:
    """At most a short prefix of a bad value, for messages (DESIGN §8)."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit] + "…") if len(text) > limit else repr(text)
