"""`tracesvc import --format nhsa|epcis FILE|DIR`: foreign documents sent to a running service (its
ImportDocument call, over the same intake as the HTTP listener: auth, roles, lanes, validation,
idempotency), with a progress bar; every problem can be written to a file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import grpc

from tracesvc import client
from tracesvc.runtime.progress import Progress
from tracesvc.v1 import ingest_pb2, ingest_pb2_grpc

SUFFIXES = {"nhsa": (".json", ".ndjson", ".jsonl"), "epcis": (".json", ".jsonld")}
MAX_LISTED = 50  # rejected rows printed in the summary (all of them go to --problems FILE)
_FORMAT = {"nhsa": ingest_pb2.DOCUMENT_FORMAT_NHSA, "epcis": ingest_pb2.DOCUMENT_FORMAT_EPCIS}
_FINE = ("STORED", "DUPLICATE", "SKIPPED")


class DocumentError(ValueError):
    """A document this command could not read (it is reported, and the others go on)."""


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    files: int = 0

    def add(self, where: str, status: str, reason: str = "") -> None:
        self.counts[status] += 1
        if status not in _FINE:
            self.problems.append(f"{where}: {status}: {reason}")

    def render(self, out: TextIO, problems_file: Path | None = None) -> None:
        print(f"{self.files} files: " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.counts.items())), file=out)
        for line in self.problems[:MAX_LISTED]:
            print(f"  {line}", file=out)
        if problems_file is not None:
            problems_file.write_text("".join(f"{line}\n" for line in self.problems), encoding="utf-8")
            print(f"  all {len(self.problems)} problems written to {problems_file}", file=out)
        elif len(self.problems) > MAX_LISTED:
            print(f"  … and {len(self.problems) - MAX_LISTED} more (--problems FILE lists them all)", file=out)

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
                    yield f"{path}:{n}", DocumentError(f"not JSON: {str(exc)[:80]}")
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


async def import_documents(target: str, key: str | None, path: Path, options: ImportOptions) -> Summary:
    """Send every document under `path` to the service at `target`, one ImportDocument call each."""
    summary = Summary()
    files = files_of(path, options.fmt)
    async with client.channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        with Progress(f"import --format {options.fmt} {path}", "file", total=len(files)) as progress:
            for file in files:
                summary.files += 1
                for where, doc in documents(file):
                    await _one(stub, key, summary, (where, doc), options)
                progress.set(summary.files, **{k.lower(): v for k, v in sorted(summary.counts.items())})
    return summary


async def _one(
    stub: ingest_pb2_grpc.IngestServiceStub,
    key: str | None,
    summary: Summary,
    item: tuple[str, Any],
    options: ImportOptions,
) -> None:
    where, doc = item
    if isinstance(doc, DocumentError):
        summary.add(where, "REJECTED", str(doc))
        return
    request = ingest_pb2.ImportDocumentRequest(
        format=_FORMAT[options.fmt], content=json.dumps(doc, ensure_ascii=False).encode(), party_id=options.party
    )
    if options.fmt == "nhsa" and not (isinstance(doc, dict) and "input" in doc):
        request.infno = options.infno  # --infno names bare inputs; an envelope names its own
    try:
        answer = await stub.ImportDocument(request, metadata=client.bearer(key))
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.INVALID_ARGUMENT:
            raise  # no access, no server: the command says so once, not per document
        summary.add(where, "REJECTED", exc.details() or "")
        return
    for r in answer.results:
        summary.add(f"{where}: {r.position}", r.status, r.message)
