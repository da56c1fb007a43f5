"""Trace codes (DESIGN.md §3): parse, validate, normalise, and tell them from barcodes.

Normalise once at the edge: every code stored or compared is the canonical string
this module returns. Canonical forms:
- 码上放心 (MSFX): the 20 digits;
- GS1: ``(01)<GTIN-14>(21)<serial>`` (identity is GTIN + serial; batch and expiry
  are attributes of the scan, returned separately);
- manufacturer-defined: the trimmed string, letters upper-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tracesvc.domain.hygiene import is_ascii_digits, quote

GS = "\x1d"  # ASCII group separator: FNC1 in the raw GS1 form
_SYMBOLOGY_IDS = ("]d2", "]Q3", "]C1", "]e0")  # DataMatrix, QR, GS1-128, DataBar prefixes
MAX_CODE_CHARS = 256  # far above any real scan; keeps parsing linear-time cheap
_MSFX_LEN = 20
_MSFX_PREFIX_LEN = 7
_GS1_FIXED = {"01": 14, "17": 6}  # fixed-length AIs we read; others below are variable
_GS1_VARIABLE_MAX = {"21": 20, "10": 20}
_HUMAN_AI = re.compile(r"\(([0-9]{2,4})\)")
_MANUFACTURER = re.compile(r"[0-9A-Z]{8,40}")  # fullmatch: `$` would allow a newline
_SEPARATORS = re.compile(r"[\s\-]")  # spaces and hyphens of the printed human form


class CodeScheme(StrEnum):
    MSFX = "MSFX"  # 码上放心 20-digit code
    GS1 = "GS1"
    MANUFACTURER = "MANUFACTURER"


class CodeError(ValueError):
    """A scanned value that is neither a trace code nor a commodity barcode."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{quote(value)}: {reason}")
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TraceCode:
    canonical: str
    scheme: CodeScheme
    # The key of the product in the registry: MSFX prefix, GTIN-14, or manufacturer prefix.
    product_key: str
    serial: str
    batch: str = ""
    expiry: date | None = None


@dataclass(frozen=True, slots=True)
class CommodityBarcode:
    """EAN-8/13, UPC-A, GTIN-14 without serial, or the 14-digit 药品本位码: no serial, so no trace code."""

    canonical: str
    kind: str  # "EAN-13", "EAN-8", "UPC-A", "GTIN-14", "NATIONAL_DRUG_CODE"


Scanned = TraceCode | CommodityBarcode


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it (any GTIN length)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gs1_check_ok(number: str) -> bool:
    return is_ascii_digits(number) and len(number) >= 2 and gs1_check_digit(number[:-1]) == int(number[-1])


def _strip(raw: str) -> str:
    value = raw.strip()
    for sid in _SYMBOLOGY_IDS:
        if value.startswith(sid):
            return value[len(sid) :]
    return value


def _parse_gs1_date(value: str, raw: str) -> date:
    yy, mm, dd = int(value[0:2]), int(value[2:4]), int(value[4:6])
    # GS1 general spec: DD = 00 means the last day of the month; years 00-49 are 20xx here.
    year = 2000 + yy if yy < 50 else 1900 + yy
    if not 1 <= mm <= 12:
        raise CodeError(raw, f"GS1 (17) expiry month {mm:02d} is not a month")
    if dd == 0:
        nxt = date(year + (mm == 12), mm % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    try:
        return date(year, mm, dd)
    except ValueError:
        raise CodeError(raw, f"GS1 (17) expiry {value} is not a date") from None


def _gs1_from_fields(fields: dict[str, str], raw: str) -> TraceCode:
    gtin = fields.get("01")
    if gtin is None:
        raise CodeError(raw, "GS1 element string has no (01) GTIN")
    if not is_ascii_digits(gtin, 14):
        raise CodeError(raw, "GS1 (01) GTIN must be 14 digits")
    if not gs1_check_ok(gtin):
        raise CodeError(raw, f"GS1 (01) GTIN {gtin} fails its mod-10 check digit")
    serial = fields.get("21", "")
    if not serial:
        raise CodeError(raw, "GS1 element string has no (21) serial: not a trace code")
    if len(serial) > 20 or any(ord(c) < 33 or ord(c) > 126 for c in serial):
        raise CodeError(raw, "GS1 (21) serial must be 1-20 printable characters")
    if "17" in fields and not is_ascii_digits(fields["17"], 6):
        raise CodeError(raw, "GS1 (17) expiry must be YYMMDD")
    expiry = _parse_gs1_date(fields["17"], raw) if "17" in fields else None
    return TraceCode(f"(01){gtin}(21){serial}", CodeScheme.GS1, gtin, serial, fields.get("10", ""), expiry)


def _parse_gs1_human(value: str, raw: str) -> TraceCode:
    """``(01)06912345678906(17)270630(10)B1(21)SN1`` — any order, any spacing."""
    parts = _HUMAN_AI.split(value.replace(" ", ""))
    if parts[0] != "":
        raise CodeError(raw, "GS1 human-readable form must start with an (AI)")
    fields: dict[str, str] = {}
    for ai, data in zip(parts[1::2], parts[2::2], strict=True):
        if ai in fields:
            raise CodeError(raw, f"GS1 AI ({ai}) appears twice")
        fields[ai] = data
    for ai, length in _GS1_FIXED.items():
        if ai in fields and len(fields[ai]) != length:
            raise CodeError(raw, f"GS1 ({ai}) must be {length} digits")
    return _gs1_from_fields(fields, raw)


def _parse_gs1_raw(value: str, raw: str) -> TraceCode:
    """Raw element string: fixed-length AIs run on, variable ones end at GS or the end."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        if value[pos] == GS:
            pos += 1
            continue
        ai = value[pos : pos + 2]
        pos += 2
        if ai in _GS1_FIXED:
            length = _GS1_FIXED[ai]
            data = value[pos : pos + length]
            if not is_ascii_digits(data, length):
                raise CodeError(raw, f"GS1 ({ai}) must be {length} digits")
            pos += length
        elif ai in _GS1_VARIABLE_MAX:
            end = value.find(GS, pos)
            end = len(value) if end < 0 else end
            data = value[pos:end]
            if len(data) > _GS1_VARIABLE_MAX[ai]:
                raise CodeError(raw, f"GS1 ({ai}) is longer than {_GS1_VARIABLE_MAX[ai]}: missing GS separator?")
            pos = end
        else:
            raise CodeError(raw, f"GS1 AI ({ai}) is not one of (01) (17) (10) (21)")
        if ai in fields:
            raise CodeError(raw, f"GS1 AI ({ai}) appears twice")
        fields[ai] = data
    return _gs1_from_fields(fields, raw)


def _commodity(value: str) -> CommodityBarcode | None:
    if not is_ascii_digits(value):
        return None
    n = len(value)
    if n == 14 and value.startswith("86"):
        return CommodityBarcode(value, "NATIONAL_DRUG_CODE")
    if n in (8, 12, 13, 14) and gs1_check_ok(value):
        return CommodityBarcode(value, {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}[n])
    return None


def _longest_prefix(value: str, prefixes: frozenset[str]) -> str | None:
    for end in range(len(value) - 1, 1, -1):  # a prefix leaves at least one serial character
        if value[:end] in prefixes:
            return value[:end]
    return None


def _check_raw(raw: object) -> None:
    if not isinstance(raw, str) or not raw.strip():
        raise CodeError(raw if isinstance(raw, str) else repr(raw), "empty code")
    if len(raw) > MAX_CODE_CHARS:
        raise CodeError(raw, f"longer than {MAX_CODE_CHARS} characters: not a trace code")


def parse(raw: str, manufacturer_prefixes: frozenset[str] = frozenset()) -> Scanned:
    """Parse one scanned value; raise CodeError naming the value and the reason.

    `manufacturer_prefixes` are the registry's prefixes of manufacturer-defined codes,
    which are accepted only under such a prefix.
    """
    if type(raw) is str and len(raw) == _MSFX_LEN and raw[0] == "8" and raw.isascii() and raw.isdigit():
        # Nearly every scan: a bare 20-digit code, which the general path below also ends in.
        return TraceCode(raw, CodeScheme.MSFX, raw[:_MSFX_PREFIX_LEN], raw[_MSFX_PREFIX_LEN:])
    _check_raw(raw)
    value = _strip(raw)
    if value.startswith("("):
        return _parse_gs1_human(value, raw)
    if GS in value or (value.startswith("01") and len(value) > 16 and not is_ascii_digits(value)):
        return _parse_gs1_raw(value, raw)
    compact = _SEPARATORS.sub("", value)
    if is_ascii_digits(compact):
        if (
            len(compact) > 18
            and compact.startswith("01")
            and compact[16:18] in ("21", "17", "10")
            and gs1_check_ok(compact[2:16])
        ):
            # raw GS1 with only fixed-length AIs before the last one needs no separator
            return _parse_gs1_raw(compact, raw)
        if len(compact) == _MSFX_LEN:
            if compact[0] != "8":
                raise CodeError(raw, "a 20-digit trace code must start with 8")
            return TraceCode(compact, CodeScheme.MSFX, compact[:_MSFX_PREFIX_LEN], compact[_MSFX_PREFIX_LEN:])
        barcode = _commodity(compact)
        if barcode is not None:
            return barcode
    upper = compact.upper()
    if _MANUFACTURER.fullmatch(upper):
        prefix = _longest_prefix(upper, manufacturer_prefixes)
        if prefix is not None:
            return TraceCode(upper, CodeScheme.MANUFACTURER, prefix, upper[len(prefix) :])
        if is_ascii_digits(compact):
            raise CodeError(raw, f"{len(compact)} digits is neither a 20-digit trace code nor a commodity barcode")
        raise CodeError(raw, "not a known trace-code format and no registered manufacturer prefix matches")
    raise CodeError(raw, "not a trace code: expected 20 digits, a GS1 element string, or a manufacturer code")


def parse_trace(raw: str, manufacturer_prefixes: frozenset[str] = frozenset()) -> TraceCode:
    """Like parse(), but a commodity barcode is an error too (custody events need a serial)."""
    parsed = parse(raw, manufacturer_prefixes)
    if isinstance(parsed, CommodityBarcode):
        raise CodeError(raw, f"{parsed.kind} commodity barcode carries no serial: not a trace code")
    return parsed


def product_key_of(canonical: str, manufacturer_prefixes: frozenset[str] = frozenset()) -> str | None:
    """The registry key of a stored canonical code (None for commodity barcodes)."""
    try:
        parsed = parse(canonical, manufacturer_prefixes)
    except CodeError:
        return None
    return parsed.product_key if isinstance(parsed, TraceCode) else None
