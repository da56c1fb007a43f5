"""What a case shows, as typed rows: the case with its members, log and flags, and the dossier a
case file is rendered from. Plain values assembled by the case use cases from the case store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tracesvc.domain.registry import Party
from tracesvc.store import cases as store


@dataclass(frozen=True)
class CaseView:
    case: store.CaseRow
    members: list[store.MemberRow]
    log: list[store.LogRow]
    flags: list[store.FlagRow] = field(default_factory=list)


@dataclass(frozen=True)
class Dossier:
    """Everything a case file shows and cites."""

    view: CaseView
    chains: list[store.ChainRow]
    events: list[store.EventRecord]
    code_timelines: dict[str, list[store.TimelineRow]]
    buyer_timelines: dict[str, list[store.TimelineRow]]
    parties: dict[str, Party]
    generated_at: datetime
    generated_by: str
