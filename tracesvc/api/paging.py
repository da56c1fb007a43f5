"""Opaque page tokens: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def encode(kind: str, position: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode(kind: str, token: str) -> str | None:
    """The position, "" for no token, None for a token that is not ours."""
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, position = raw.partition(":")
    return position if prefix == kind else None


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)
