"""Insured-person numbers never travel past the edge in the clear (DESIGN.md §8)."""

from __future__ import annotations

import hashlib
import hmac
import re

_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def buyer_token(key: bytes, insured_number: str) -> str:
    """Keyed hash of an insured-person number: stable per key, useless without it."""
    normalized = insured_number.strip().upper()
    return hmac.digest(key, normalized.encode(), hashlib.sha256).hex()  # one-shot: OpenSSL, no HMAC object


def is_token(value: str) -> bool:
    return bool(_TOKEN.match(value))
