"""The one way every document writes money and time for a person: yuan from fen, and times in
Asia/Shanghai (China Standard Time, UTC+8, no daylight saving since 1991) with the zone shown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def yuan(fen: int) -> str:
    """¥1,234.50 from 123450 fen."""
    return f"¥{fen / 100:,.2f}"


def when(value: datetime | None, *, zone: bool = True) -> str:
    """2026-11-23 14:05 CST; "" for no time. `zone=False` where a page states the zone once."""
    if value is None:
        return ""
    text = value.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    return f"{text} CST" if zone else text
