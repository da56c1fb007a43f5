"""Input hygiene (DESIGN §8, last point): the pure checks every entry point applies at the edge.

Hostile input must never crash a call nor reach a column it does not fit. This module holds
the limits and the checks; the transports (gRPC `tracesvc.api.hygiene`, HTTP intake) apply
them to every field they receive. Messages quote at most a short prefix of a bad value
(`quote`), so an error about a 100 kB value stays a short error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Quoted prefixes in messages: enough to recognise the value, never the whole of it.
QUOTE_CHARS = 32
# A status message never grows past this (gRPC carries it in a header; 8 kB is the usual limit).
MAX_MESSAGE_CHARS = 512

# Column ranges (PostgreSQL): smallint, int, bigint.
SMALLINT_MAX = 32_767
INT_MAX = 2_147_483_647
BIGINT_MAX = 9_223_372_036_854_775_807

# Domain bounds that keep every sum below its column's range.
MAX_UNITS = 1_000_000  # units of one scan; a pack never holds more (a sum of 10,000 scans fits bigint)
MAX_QUANTITY = 1_000_000  # a sale line's packs or units
MAX_FEN = 10**13  # 100 billion yuan per line: above any real sale, far below bigint
MAX_LINES = 1_000  # lines of one sale (line_no is a smallint)

# Timestamps the wire may carry: years 1–9999, as datetime can hold them.
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_NANOS = 999_999_999
_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)

# Control characters (C0, DEL, C1) and the Unicode non-characters no text field needs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
_CONTROL_BUT_GS = re.compile(r"[\x00-\x1c\x1e\x1f\x7f-\x9f\ufffe\uffff]")  # GS is FNC1 in raw GS1 codes
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")  # tab, LF, CR in notes
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class TextKind:
    """How a text field may look: its length limit and which control characters it allows."""

    __slots__ = ("allowed", "max_len")

    def __init__(self, max_len: int, allowed: re.Pattern[str] = _CONTROL) -> None:
        self.max_len = max_len
        self.allowed = allowed  # matches a forbidden character


ID = TextKind(128)  # event, sale, document, flag and case ids; party ids; refs
SHORT = TextKind(64)  # codes of enums given as text, regions, buyer numbers and tokens
CODE = TextKind(256, _CONTROL_BUT_GS)  # a scanned value (GS1 element strings carry GS)
NAME = TextKind(512)  # names, titles, item names, specs
NOTE = TextKind(4000, _CONTROL_BUT_LINES)  # review notes, reasons, licence scopes
TOKEN = TextKind(256)  # page tokens


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`repr` of a short prefix of the value, marked when cut: safe to put in any message."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} chars)"


def clip_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A status message cut to `limit` characters (the last resort; callers should quote)."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def text_problem(value: str, kind: TextKind) -> str | None:
    """Why a text value is refused, or None: too long, control characters, lone surrogates."""
    if len(value) > kind.max_len:
        return f"at most {kind.max_len} characters, got {len(value)}"
    if value.isprintable():  # the usual case, in C: no control character, surrogate or noncharacter
        return None
    found = kind.allowed.search(value)
    if found is not None:
        return f"control character U+{ord(found.group()):04X} at position {found.start()} is not allowed"
    if _SURROGATE.search(value):
        return "lone surrogate characters are not allowed"
    return None


def all_clean(columns: list[tuple[list[str], TextKind]]) -> bool:
    """Whether every value passes `text_problem`, checked a column at a time in C (a delivery note's
    thousands of values at once); when not, check value by value to name the one that fails."""
    for values, kind in columns:
        if not values:
            continue
        joined = "".join(values)
        # isprintable() is False for every character any TextKind refuses (C0/C1 controls, lone
        # surrogates, U+FFFE/U+FFFF), so Chinese names pass here too; tests/unit/test_hygiene.py checks
        # that over every code point.
        if not joined.isprintable() or max(map(len, values)) > kind.max_len:
            return False
    return True


def is_ascii_digits(value: str, length: int | None = None) -> bool:
    """Only 0-9 (never full-width, superscript or other Unicode digits), optionally of one length."""
    # isdigit() alone admits full-width and other Unicode digits; with isascii() it is exactly [0-9]+.
    return value.isascii() and value.isdigit() and (length is None or len(value) == length)


def int_problem(value: int, low: int, high: int) -> str | None:
    if low <= value <= high:
        return None
    return f"must be {low} to {high}, got {quote(str(value), 24)}"


def timestamp_problem(seconds: int, nanos: int) -> str | None:
    """Why a (seconds, nanos) pair is no instant of years 1–9999, or None."""
    if not 0 <= nanos <= MAX_NANOS:
        return f"nanos must be 0 to {MAX_NANOS}, got {nanos}"
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        return "must be between 0001-01-01 and 9999-12-31"
    return None


def datetime_of(seconds: int, nanos: int) -> datetime | None:
    """The UTC instant of a (seconds, nanos) pair, or None when it is out of range."""
    if timestamp_problem(seconds, nanos) is not None:
        return None
    return _YEAR_ONE + timedelta(seconds=seconds - MIN_SECONDS, microseconds=nanos // 1000)


def parse_position(token_position: str, high: int = BIGINT_MAX) -> int | None:
    """A page position: ASCII digits only, within a bigint; None for anything else."""
    if not token_position or len(token_position) > 19 or not is_ascii_digits(token_position):
        return None
    value = int(token_position)
    return value if value <= high else None
