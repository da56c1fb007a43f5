"""Flags and cases as CSV or XLSX, written row by row as pages arrive (constant memory).

XLSX uses openpyxl's write-only mode: rows stream to a temporary file, never a whole sheet in
memory. Money is in yuan (two decimals) beside the fen the service speaks; times in UTC ISO-8601
(machine fields), with an Asia/Shanghai column beside for people. Kinds, findings and statuses read in
Chinese first with the English beside; a rule B flag's row names its buyer by token.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.timestamp_pb2 import Timestamp

from tracesvc.documents import wording
from tracesvc.documents.formatting import when
from tracesvc.v1 import enforcement_pb2 as pb

FORMATS = ("csv", "xlsx")


def _ts(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat() if ts.seconds or ts.nanos else ""


def _local(ts: Timestamp) -> str:
    """For people: 2026-11-23 14:05 Asia/Shanghai."""
    return when(ts.ToDatetime(tzinfo=UTC)) if ts.seconds or ts.nanos else ""


def _flag_status(f: pb.Flag) -> str:
    return pb.FlagStatus.Name(f.status).removeprefix("FLAG_STATUS_")


def _case_status(c: pb.Case) -> str:
    return pb.CaseStatus.Name(c.status).removeprefix("CASE_STATUS_")


FLAG_COLUMNS: Sequence[tuple[str, Callable[[pb.Flag], Any]]] = (
    ("flag_id", lambda f: f.flag_id),
    ("rule", lambda f: f.rule),
    ("kind", lambda f: f.kind),
    ("severity", lambda f: pb.Severity.Name(f.severity).removeprefix("SEVERITY_")),
    ("kind_zh", lambda f: wording.kind_label(f.rule, f.kind)),
    ("finding", lambda f: wording.summary(f.rule, f.kind, "")),
    ("code", lambda f: f.code),
    ("buyer_token", lambda f: f.buyer_token),
    ("decisive_event_id", lambda f: f.decisive_event_id),
    ("decisive_at", lambda f: _ts(f.decisive_at)),
    ("decisive_at_shanghai", lambda f: _local(f.decisive_at)),
    ("subject_party", lambda f: f.subject_party),
    ("subject_region", lambda f: f.subject_region),
    ("subject_region_name", lambda f: wording.region_name(f.subject_region)),
    ("related_parties", lambda f: " ".join(f.related_parties)),
    ("money_fen", lambda f: f.money_fen),
    ("money_yuan", lambda f: round(f.money_fen / 100, 2)),
    ("status", _flag_status),
    ("status_zh", lambda f: wording.both(wording.STATUSES.get(_flag_status(f)), _flag_status(f))),
    ("case_id", lambda f: f.case_id),
    ("detail", lambda f: f.detail),
    ("review_note", lambda f: f.review_note),
    ("reviewed_by", lambda f: f.reviewed_by),
    ("detected_at", lambda f: _ts(f.detected_at)),
    # last, so the columns before keep their places: LOCAL (this province's run) or NATIONAL (imported)
    ("origin", lambda f: f.origin or "LOCAL"),
    ("origin_zh", lambda f: "全国核查 National" if f.origin == "NATIONAL" else "本省 This province"),
)

CASE_COLUMNS: Sequence[tuple[str, Callable[[pb.Case], Any]]] = (
    ("case_id", lambda c: c.case_id),
    ("title", lambda c: c.title),
    ("status", lambda c: pb.CaseStatus.Name(c.status).removeprefix("CASE_STATUS_")),
    ("subject_parties", lambda c: " ".join(c.subject_parties)),
    ("region", lambda c: c.region),
    ("assignee", lambda c: c.assignee),
    ("flag_count", lambda c: c.flag_count),
    ("money_fen", lambda c: c.money_fen),
    ("money_yuan", lambda c: round(c.money_fen / 100, 2)),
    ("created_by", lambda c: c.created_by),
    ("created_at", lambda c: _ts(c.created_at)),
    ("updated_at", lambda c: _ts(c.updated_at)),
    ("status_zh", lambda c: wording.both(wording.STATUSES.get(_case_status(c)), _case_status(c))),
    ("region_name", lambda c: wording.region_name(c.region)),
    ("created_at_shanghai", lambda c: _local(c.created_at)),
    ("deadline", lambda c: _ts(c.deadline)),
    ("deadline_shanghai", lambda c: _local(c.deadline)),
    ("overdue", lambda c: c.overdue),
)


def _safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: text starting with = + - @ is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


async def write_rows(
    items: AsyncIterable[Any],
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    fmt: str,
    out: Path | TextIO,
    sheet: str = "rows",
) -> int:
    """Write a header and one row per item; return the rows written."""
    if fmt == "csv":
        return await _write_csv(items, columns, out)
    if fmt == "xlsx":
        if not isinstance(out, Path):
            raise ValueError("XLSX goes to a file, not a stream")
        return await _write_xlsx(items, columns, out, sheet)
    raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")


async def _write_csv(
    items: AsyncIterable[Any], columns: Sequence[tuple[str, Callable[[Any], Any]]], out: Path | TextIO
) -> int:
    stream = out.open("w", encoding="utf-8-sig", newline="") if isinstance(out, Path) else out  # BOM: Excel
    count = 0
    try:
        writer = csv.writer(stream)
        writer.writerow([name for name, _ in columns])
        async for item in items:
            writer.writerow([_safe(get(item)) for _, get in columns])
            count += 1
    finally:
        if isinstance(out, Path):
            stream.close()
    return count


async def _write_xlsx(
    items: AsyncIterable[Any], columns: Sequence[tuple[str, Callable[[Any], Any]]], out: Path, sheet: str
) -> int:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append([name for name, _ in columns])
    count = 0
    async for item in items:
        ws.append([_safe(get(item)) for _, get in columns])
        count += 1
    book.save(out)
    return count
