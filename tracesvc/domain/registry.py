"""Reference data (DESIGN.md §2) as plain values, and the licence judgement rules need."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tracesvc.domain.codes import CodeScheme, gs1_check_ok
from tracesvc.domain.events import Violation
from tracesvc.domain.hygiene import MAX_UNITS, is_ascii_digits, quote

_ID = re.compile(r"[0-9A-Za-z_\-]{2,64}")  # fullmatch: `$` would let a newline through
_MANUFACTURER_PREFIX = re.compile(r"[0-9A-Z]{2,20}")


class PartyKind(StrEnum):
    MANUFACTURER = "MANUFACTURER"
    WHOLESALER = "WHOLESALER"
    PHARMACY = "PHARMACY"
    CHAIN_HQ = "CHAIN_HQ"
    HOSPITAL = "HOSPITAL"


class LicenceStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


class Category(StrEnum):
    DRUG = "DRUG"
    HEALTH_FOOD = "HEALTH_FOOD"
    FOOD = "FOOD"
    COSMETIC = "COSMETIC"
    DAILY_GOODS = "DAILY_GOODS"
    DEVICE = "DEVICE"


MAX_DAILY_UNITS = 10_000  # units a day; far above any labelled dose, below any column limit
NON_DRUG_CATEGORIES = frozenset({Category.FOOD, Category.HEALTH_FOOD, Category.COSMETIC, Category.DAILY_GOODS})


@dataclass(frozen=True, slots=True)
class Licence:
    number: str
    valid_from: datetime
    valid_to: datetime | None = None  # exclusive; None: open-ended
    scope: str = ""
    # (status, effective_from) in effective order; empty: ACTIVE throughout its validity
    status_history: tuple[tuple[LicenceStatus, datetime], ...] = ()

    def status_at(self, when: datetime) -> LicenceStatus | None:
        """The licence's status at `when`, or None outside its validity."""
        if when < self.valid_from or (self.valid_to is not None and when >= self.valid_to):
            return None
        status = LicenceStatus.ACTIVE
        for st, since in self.status_history:
            if since <= when:
                status = st
            else:
                break
        return status


@dataclass(frozen=True, slots=True)
class Party:
    party_id: str
    kind: PartyKind
    name: str = ""
    region: str = ""
    chain_id: str = ""
    licences: tuple[Licence, ...] = ()
    reports_events: bool = False
    glns: tuple[str, ...] = ()  # GS1 GLNs (13 digits) naming the party or its locations in EPCIS events

    def licensed_at(self, when: datetime) -> bool:
        return any(lic.status_at(when) is LicenceStatus.ACTIVE for lic in self.licences)

    def same_chain(self, other: Party | None) -> bool:
        return other is not None and bool(self.chain_id) and self.chain_id == other.chain_id


@dataclass(frozen=True, slots=True)
class Product:
    prefix: str
    scheme: CodeScheme
    pack_units: int
    category: Category
    manufacturer_id: str = ""
    name: str = ""
    generic_name: str = ""
    spec: str = ""
    insurance_code: str = ""
    daily_units: int = 0  # units a day at the highest labelled dose; 0: no supply limit (rule B)


def is_party_id(value: str) -> bool:
    """Whether a string has the shape of a registry party id (worth looking up at all)."""
    return _ID.fullmatch(value) is not None


def validate_party(party: Party) -> list[Violation]:
    out: list[Violation] = []
    if not _ID.fullmatch(party.party_id):
        out.append(Violation("party_id", "required: 2-64 letters, digits, '-' or '_'"))
    if party.region and not is_ascii_digits(party.region, 6):
        out.append(Violation("region", f"{quote(party.region)} is not a 6-digit administrative code"))
    for n, lic in enumerate(party.licences):
        path = f"licences[{n}]"
        if not lic.number.strip():
            out.append(Violation(f"{path}.number", "required"))
        if lic.valid_to is not None and lic.valid_to <= lic.valid_from:
            out.append(Violation(f"{path}.valid_to", "must be after valid_from"))
        times = [since for _, since in lic.status_history]
        if times != sorted(times):
            out.append(Violation(f"{path}.status_history", "changes must be in effective order"))
    for n, gln in enumerate(party.glns):
        if not (len(gln) == 13 and gs1_check_ok(gln)):
            out.append(Violation(f"glns[{n}]", f"{gln[:20]!r} is not a 13-digit GLN with a valid check digit"))
    return out


def validate_product(product: Product) -> list[Violation]:
    out: list[Violation] = []
    p = product.prefix
    if product.scheme is CodeScheme.MSFX and not (is_ascii_digits(p, 7) and p[0] == "8"):
        out.append(Violation("prefix", f"{quote(p)}: a 码上放心 product prefix is 7 digits starting with 8"))
    elif product.scheme is CodeScheme.GS1 and not (len(p) == 14 and gs1_check_ok(p)):
        out.append(Violation("prefix", f"{quote(p)}: a GS1 product key is a GTIN-14 with a valid check digit"))
    elif product.scheme is CodeScheme.MANUFACTURER and not _MANUFACTURER_PREFIX.fullmatch(p):
        out.append(Violation("prefix", f"{quote(p)}: a manufacturer prefix is 2-20 upper-case letters or digits"))
    if not 1 <= product.pack_units <= MAX_UNITS:
        out.append(Violation("pack_units", f"must be 1 to {MAX_UNITS}, got {product.pack_units}"))
    if not 0 <= product.daily_units <= MAX_DAILY_UNITS:
        out.append(Violation("daily_units", f"must be 0 (no limit) to {MAX_DAILY_UNITS}, got {product.daily_units}"))
    if product.category is not Category.DRUG and product.insurance_code:
        out.append(Violation("insurance_code", "only drugs carry an insurance list code"))
    return out
