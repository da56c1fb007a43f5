"""`tracesvc import --format nhsa|epcis FILE|DIR`: foreign documents into the database, through the same
IntakeService → Ingestor path (validation, idempotency, acks) as the HTTP intake, with a progress bar."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from tracesvc.intake.model import DocumentError
from tracesvc.service.intake import IntakeService, Status

SUFFIXES = {"nhsa": (".json", ".ndjson", ".jsonl"), "epcis": (".json", ".jsonld")}
MAX_LISTED = 50  # rejected rows printed in the summary


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    files: int = 0

    def add(self, where: str, status: str, reason: str = "") -> None:
        self.counts[status] += 1
        if status not in (Status.STORED, Status.DUPLICATE, Status.SKIPPED):
            self.problems.append(f"{where}: {status}: {reason}")

    def render(self, out: TextIO) -> None:
        print(f"{self.files} files: " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.counts.items())), file=out)
        for line in self.problems[:MAX_LISTED]:
            print(f"  {line}", file=out)
        if len(self.problems) > MAX_LISTED:
            print(f"  … and {len(self.problems) - MAX_LISTED} more", file=out)

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def files_of(path: Path, fmt: str) -> list[Path]:
    """The file itself, or a directory's files of the format, in name order (recursively)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES[fmt])
    return [path]


def documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, document) for a file holding one JSON document, a JSON array of them, or one per line."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"{path}:{n}", json.loads(line)
                except ValueError as exc:
                    yield f"{path}:{n}", DocumentError("", f"not JSON: {str(exc)[:80]}")
        return
    if isinstance(data, list):
        for n, item in enumerate(data):
            yield f"{path}[{n}]", item
    else:
        yield str(path), data


@dataclass(frozen=True, slots=True)
class ImportOptions:
    fmt: str  # nhsa | epcis
    party: str = ""  # nhsa: fixmedins_code of bare inputs
    infno: str = ""  # nhsa: infno of bare inputs


async def import_documents(intake: IntakeService, path: Path, options: ImportOptions) -> Summary:
    summary = Summary()
    files = files_of(path, options.fmt)
    bar = tqdm(files, unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)
    for file in bar:
        summary.files += 1
        for where, doc in documents(file):
            await _one(intake, summary, (where, doc), options)
        bar.set_postfix({k.lower(): v for k, v in summary.counts.items()}, refresh=False)
    return summary


async def _one(intake: IntakeService, summary: Summary, item: tuple[str, Any], options: ImportOptions) -> None:
    where, doc = item
    fmt, party, infno = options.fmt, options.party, options.infno
    if isinstance(doc, DocumentError):
        summary.add(where, "REJECTED", doc.reason)
        return
    try:
        if fmt == "nhsa":
            bare = not (isinstance(doc, dict) and "input" in doc)  # --infno names bare inputs; an envelope its own
            report = await intake.nhsa(doc, infno=infno if bare else "", party_id=party)
        else:
            report = await intake.epcis(doc, rollback=False)
    except DocumentError as exc:
        summary.add(where, "REJECTED", str(exc))
        return
    for r in report.ordered():
        summary.add(f"{where}: {r.position}", r.status.value, r.message)
