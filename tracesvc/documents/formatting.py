"""The one way every document writes money and time for a person: yuan from fen, and times in
Asia/Shanghai (China Standard Time, UTC+8, no daylight saving since 1991) with the zone shown.
Machine-readable fields (exports' ISO columns, the manifest, the wire) stay in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

ZONE_NAME = "Asia/Shanghai"


def _zone() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(ZONE_NAME)
    except Exception:  # no tz database on this machine: the same offset, fixed
        return timezone(timedelta(hours=8), ZONE_NAME)


CST = _zone()
# What a page says once, near its top, when its tables show times without the zone.
ZONE_NOTE = "时间均为北京时间（Asia/Shanghai，UTC+8）。All times are Asia/Shanghai (UTC+8)."


def yuan(fen: int) -> str:
    """¥1,234.50 from 123450 fen."""
    return f"¥{fen / 100:,.2f}"


def when(value: datetime | None, *, zone: bool = True) -> str:
    """2026-11-23 14:05 Asia/Shanghai; "" for no time. `zone=False` where a page states the zone once."""
    if value is None:
        return ""
    text = value.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    return f"{text} {ZONE_NAME}" if zone else text


def when_seconds(value: datetime | None) -> str:
    """2026-11-23 14:05:09 Asia/Shanghai, for a log."""
    return "" if value is None else f"{value.astimezone(CST):%Y-%m-%d %H:%M:%S} {ZONE_NAME}"
