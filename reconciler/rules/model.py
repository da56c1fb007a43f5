"""What the rules read and what they return: plain values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from tracesvc.domain import codes
from tracesvc.domain.codes import TraceCode
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import Party, Product

_MSFX_LEN, _MSFX_PREFIX = 20, 7  # a 码上放心 code: 7-digit product prefix, 13 digits of serial


class Rule(StrEnum):
    D = "D"  # repeated sale
    L = "L"  # no legal purchase source
    S = "S"  # substitution
    R = "R"  # return-drug re-entry
    B = "B"  # buyer anomalies (per buyer token)


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True, slots=True)
class CodeEvent:
    """One event as one code sees it."""

    event_id: str
    kind: EventKind
    party_id: str
    occurred_at: datetime
    counterparty_id: str = ""
    # This code's units in the event (a sale's lines summed); None: the whole pack,
    # or on a refund all that its sale took.
    units: int | None = None
    sale_id: str = ""
    buyer_token: str = ""
    fund_paid_fen: int = 0  # the code's share of the fund paid on the sale lines that scanned it

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.event_id)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    kind: str
    severity: Severity
    code: str  # the trace code; for S UNSCANNED_UNITS and B the billed insurance code ("" for CARD_TRAVEL)
    decisive_event_id: str
    decisive_at: datetime
    subject_party: str
    related_parties: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # event ids
    money_fen: int = 0
    detail: str = ""  # what shows it, Chinese first with the English beside: `bilingual(zh, en)`

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.rule.value, self.kind, self.decisive_event_id, self.code)


@dataclass(frozen=True, slots=True)
class ChainSale:
    event_id: str
    party_id: str
    occurred_at: datetime
    buyer_token: str
    fund_paid_fen: int
    units: int


@dataclass(frozen=True, slots=True)
class ChainEntry:
    event_id: str
    kind: EventKind
    party_id: str
    supplier_id: str  # who it came from: the receipt's supplier, the transfer's sender, ...
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ReturnChain:
    """original sale(s) → re-entry (None when only a resale shows it) → resales."""

    flag_identity: tuple[str, str, str, str]
    code: str
    originals: tuple[ChainSale, ...]
    reentry: ChainEntry | None
    resales: tuple[ChainSale, ...]


@dataclass(frozen=True, slots=True)
class CodeFindings:
    findings: list[Finding] = field(default_factory=list)
    chains: list[ReturnChain] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """Reference data the rules judge by."""

    parties: Mapping[str, Party]
    products: Mapping[str, Product]
    # Products whose maker's list of commissioned codes is loaded, and the listed codes
    # among those being judged (the caller loads only what a batch needs).
    listed_products: frozenset[str] = frozenset()
    commissioned: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        by_code: dict[str, list[Product]] = {}
        for p in self.products.values():
            if p.insurance_code:
                by_code.setdefault(p.insurance_code, []).append(p)
        object.__setattr__(self, "_by_insurance_code", by_code)
        object.__setattr__(self, "_parsed", {})  # code -> TraceCode | None; a Reference lives for one run
        object.__setattr__(
            self,
            "manufacturer_prefixes",
            frozenset(p.prefix for p in self.products.values() if p.scheme is codes.CodeScheme.MANUFACTURER),
        )

    def parsed(self, code: str) -> TraceCode | None:
        """The parsed code, once per code: every rule asks for the product of the same codes."""
        cache: dict = self._parsed  # type: ignore[attr-defined]
        if code not in cache:
            if len(code) == _MSFX_LEN and code[0] == "8" and code.isdigit():
                # A stored 20-digit code: what codes.parse returns for it, without its general path.
                cache[code] = TraceCode(code, codes.CodeScheme.MSFX, code[:_MSFX_PREFIX], code[_MSFX_PREFIX:])
                return cache[code]
            try:
                parsed = codes.parse(code, self.manufacturer_prefixes)  # type: ignore[attr-defined]
            except codes.CodeError:
                parsed = None
            cache[code] = parsed if isinstance(parsed, TraceCode) else None
        return cache[code]

    def product_of(self, code: str) -> Product | None:
        parsed = self.parsed(code)
        return self.products.get(parsed.product_key) if parsed else None

    def products_billed_as(self, insurance_code: str) -> list[Product]:
        return self._by_insurance_code.get(insurance_code, [])  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class BuyerEvents:
    """Rule B's input for one token: its SALE events and the SALE_RETURN events that name them."""

    sales: list[Event] = field(default_factory=list)
    refunds: list[Event] = field(default_factory=list)


class BuyerFinding(NamedTuple):
    """A rule B finding with the buyer token it concerns."""

    token: str
    finding: Finding


class Judged(NamedTuple):
    """What judging a batch of codes or sales found: its findings and (codes only) return chains."""

    findings: list[Finding]
    chains: list[ReturnChain]


def bilingual(zh: str, en: str) -> str:
    """A finding's detail as people read it (Chinese first, the English beside): `zh / en`."""
    return f"{zh} / {en}"
