"""What a person reads: findings in plain Chinese and English, times in Asia/Shanghai, money in yuan,
and the scanner's input made into a code."""

from __future__ import annotations

import re
from datetime import datetime

from tracesvc.documents import formatting
from tracesvc.documents.formatting import CST
from tracesvc.documents.wording import EVENT_KINDS, FINDINGS, RULES, STATUSES

# The vocabulary lives with the documents; the console's templates read it from here.
__all__ = ["CST", "EVENT_KINDS", "FINDINGS", "RULES", "STATUSES"]


def pick(lang: str, pair: tuple[str, str] | None, fallback: str = "") -> str:
    if pair is None:
        return fallback
    return pair[1] if lang == "en" else pair[0]


def when(value: datetime | None) -> str:
    """A time for people: Asia/Shanghai with the zone shown (the documents' one formatter)."""
    return formatting.when(value) or "—"


def day(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(CST).strftime("%Y-%m-%d")


def yuan(fen: int | None) -> str:
    return formatting.yuan(fen or 0)


def short(token: str, n: int = 12) -> str:
    """A buyer token cut to a recognisable prefix (the token is a keyed hash; the number never shows)."""
    return token[:n] + "…" if len(token) > n else token


# AIM symbology identifiers a scanner may put before the data (]d2 DataMatrix, ]C1 GS1-128, ]Q3 QR, ]e0 DataBar).
_AIM = re.compile(r"^\][A-Za-z][0-9]")


def scanned(raw: str) -> str:
    """What a barcode scanner typed, as the code parser takes it: the AIM prefix off, a keyboard-wedge
    GS (shown as `<GS>`, `\\x1d` or `^]`) back to the separator, surrounding blanks trimmed."""
    value = raw.strip()
    value = _AIM.sub("", value, count=1)
    for gs in ("<GS>", "\\x1d", "^]", "{GS}"):
        value = value.replace(gs, "\x1d")
    return value.strip("\x1d ")
