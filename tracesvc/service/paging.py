"""Opaque page tokens: the position after which the next page starts.

A token is ``base64url("<kind>:<position>")``; decoding verifies it strictly: the kind must be
the method's own, a numeric position ASCII digits within a bigint, a text position (a flag id)
a well-formed id. Anything else is "not a token this method gave" (INVALID_ARGUMENT), never a
value that reaches SQL.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tracesvc.domain import hygiene
from tracesvc.domain.events import Violation
from tracesvc.service.errors import InvalidArgument

T = TypeVar("T")

DEFAULT_PAGE, MAX_PAGE = 100, 1000
_TEXT_POSITIONS = frozenset({"chain"})  # ordered by flag id; every other kind by a bigint sequence


def encode(kind: str, position: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode(kind: str, token: str) -> str | None:
    """The position, "" for no token, None for a token that is not ours."""
    if not token:
        return ""
    if len(token) > hygiene.TOKEN.max_len:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, position = raw.partition(":")
    if prefix != kind or not position:
        return None
    if kind in _TEXT_POSITIONS:
        return position if hygiene.text_problem(position, hygiene.ID) is None else None
    number = hygiene.parse_position(position)
    return None if number is None else str(number)


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the opaque token of the next ("" when this is the last)."""

    items: list[T]
    next_token: str


def position(kind: str, token: str) -> str:
    """Where a page starts ("" from the first row); a token this method did not give is refused."""
    after = decode(kind, token)
    if after is None:
        raise InvalidArgument("bad page_token", [Violation("page_token", "not a token this method gave")])
    return after


async def fetch_page(
    kind: str,
    token: str,
    requested_size: int,
    fetch: Callable[[str, int], Awaitable[Sequence[T]]],
    position_of: Callable[[T], str | int],
) -> Page[T]:
    """Fetch one row more than the page holds: its presence says a next page exists, and the
    last row of this page is where that one starts."""
    size = page_size(requested_size)
    rows = await fetch(position(kind, token), size + 1)
    more = len(rows) > size
    return Page(list(rows[:size]), encode(kind, position_of(rows[size - 1])) if more else "")
