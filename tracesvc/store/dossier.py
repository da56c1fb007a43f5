"""What a case shows, as typed rows: the case with its members, log and flags, and the dossier a
case file is rendered from. Plain values assembled by the case use cases from the case store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reconciler.rules.model import ChainEntry, ChainSale
from tracesvc.domain.registry import Party
from tracesvc.store import cases as store


@dataclass(frozen=True)
class PartyRole:
    """A party of a case, the role it has in it, and why (a buyer by token only)."""

    party_id: str  # a party id, or a buyer token (role BUYER)
    role: str  # SUSPECTED_RESELLER, FEEDING_SUPPLIER, ORIGINAL_SELLER, FLAG_SUBJECT, NAMED, BUYER
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Box:
    """One box (trace code) of a case as one story: the original sale(s), the re-entry a RECEIPT (or
    other entry) recorded when any chain of the box has one, the resales, and every flag it supports."""

    code: str
    originals: tuple[ChainSale, ...]
    reentry: ChainEntry | None
    resales: tuple[ChainSale, ...]
    money_fen: int
    flag_ids: tuple[str, ...]  # every flag of the case on this box
    active: bool


@dataclass(frozen=True)
class CaseView:
    case: store.CaseRow
    members: list[store.MemberRow]
    log: list[store.LogRow]
    flags: list[store.FlagRow] = field(default_factory=list)
    attachments: list[store.AttachmentRow] = field(default_factory=list)
    parties: list[PartyRole] = field(default_factory=list)


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
    boxes: list[Box] = field(default_factory=list)
    generated_by_name: str = ""  # the officer behind the key: name and 执法证号
