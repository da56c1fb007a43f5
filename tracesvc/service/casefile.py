"""The case file: a PDF a court can check, and the manifest that proves it unaltered. This module
keeps the evidence side (digests, manifest, verification); `tracesvc.documents.casefile` draws it.

The PDF holds the case and its log, each flag's finding, the return-drug chains as diagrams, the
custody timeline of every code with each party's licence standing at each event, the licences,
the purchases of the case's buyers (by keyed token), and an appendix listing every cited record
with its SHA-256. The manifest (delivered beside the PDF and written to the case log) repeats
those digests and adds the digest of the whole file, which the file cannot hold itself.

Digests: an event's is the SHA-256 of its canonical JSON computed when it arrived (stored as
`events.content_hash`, recomputable from the stored payload); any other record's is the SHA-256
of `canonical_json(record)`. `verify_file` and `verify_against_store` check both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tracesvc.documents.casefile import ManifestEntry, casefile_pdf
from tracesvc.domain.events import Event
from tracesvc.domain.registry import Party
from tracesvc.store import cases as store
from tracesvc.store.dossier import Dossier
from tracesvc.store.findings import FlagRow


@dataclass(frozen=True)
class Manifest:
    case_id: str
    file_name: str
    file_bytes: int
    file_sha256: str
    generated_at: datetime
    generated_by: str
    entries: tuple[ManifestEntry, ...]


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    sha256: str
    manifest: Manifest


# -- digests -----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"cannot put {type(value).__name__} in canonical JSON")


def canonical_json(record: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: the form a record's digest is taken over."""
    data = dataclasses.asdict(record) if dataclasses.is_dataclass(record) and not isinstance(record, type) else record
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def digest(record: Any) -> str:
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def case_digest(case: store.CaseRow) -> str:
    """A case's digest over the fields it had before deadlines (0011) unless it has one, so a case file
    exported before that release still verifies against an unchanged case."""
    form = dataclasses.asdict(case)
    if form["deadline"] is None:
        del form["deadline"]
    return digest(form)


def flag_digest(flag: FlagRow) -> str:
    """A flag's digest over the fields it had before national findings (0012) unless it is a national
    one, so a case file exported before that release still verifies against an unchanged flag."""
    form = dataclasses.asdict(flag)
    if form["origin"] == "LOCAL":
        del form["origin"]
    return digest(form)


def log_digest(line: store.LogRow) -> str:
    """A log line's digest: its content and global `log_seq`, with the officer when one was bound. The
    per-case number is how the file shows the line, not part of what it says, and lines written before
    it existed keep the digest they were exported with."""
    form = dataclasses.asdict(line)
    del form["case_no"]
    for name in ("actor_name", "actor_cert"):
        if not form[name]:
            del form[name]
    return digest(form)


def log_id(line: store.LogRow) -> str:
    """A log line in the manifest: `#N`, its number within the case as the file shows it. (Manifests
    from before 0011 name lines by their global sequence, a bare number; both are looked up.)"""
    return f"#{line.case_no}"


def manifest_entries(d: Dossier) -> list[ManifestEntry]:
    view = d.view
    out = [ManifestEntry("case", view.case.case_id, case_digest(view.case))]
    out += [ManifestEntry("case_log", log_id(e), log_digest(e)) for e in view.log]
    out += [ManifestEntry("flag", f.flag_id, flag_digest(f)) for f in view.flags]
    out += [ManifestEntry("chain", c.flag_id, digest(c.stored_form())) for c in d.chains]
    out += [ManifestEntry("event", e.event_id, e.sha256) for e in d.events]
    out += [ManifestEntry("party", p, digest(d.parties[p])) for p in sorted(d.parties)]
    # an attachment's digest is the SHA-256 of its bytes, as stored
    out += [ManifestEntry("attachment", a.attachment_id, a.sha256) for a in view.attachments]
    return out


def render_pdf(d: Dossier) -> Rendered:
    """The PDF and its manifest. Raises fonts.FontMissing when the CJK font is not installed."""
    entries = manifest_entries(d)
    pdf = casefile_pdf(d, entries)
    sha = hashlib.sha256(pdf).hexdigest()
    manifest = Manifest(
        d.view.case.case_id, f"{d.view.case.case_id}.pdf", len(pdf), sha, d.generated_at, d.generated_by, tuple(entries)
    )
    return Rendered(pdf, sha, manifest)


# -- verification ------------------------------------------------------------------------------


def verify_file(pdf: bytes, file_sha256: str, file_bytes: int) -> list[str]:
    """Problems with the file against its manifest (empty: it is the file that was exported)."""
    problems = []
    if len(pdf) != file_bytes:
        problems.append(f"size {len(pdf)} bytes, manifest says {file_bytes}")
    actual = hashlib.sha256(pdf).hexdigest()
    if actual != file_sha256.lower():
        problems.append(f"SHA-256 {actual}, manifest says {file_sha256}")
    return problems


async def current_digests(
    conn: asyncpg.Connection, case_id: str, entries: Sequence[ManifestEntry]
) -> dict[tuple[str, str], str]:
    """The digest each cited record has in the store now (events: recomputed from their payload)."""
    ids: dict[str, list[str]] = {}
    for e in entries:
        ids.setdefault(e.kind, []).append(e.id)
    now: dict[tuple[str, str], str] = {}
    for ev in await store.events_with_digests(conn, ids.get("event", [])):
        recomputed = Event.from_json(json.loads(ev.payload)).serialized().digest.hex()
        now[("event", ev.event_id)] = ev.sha256 if recomputed == ev.sha256 else f"payload {recomputed}"
    now |= {("flag", f.flag_id): flag_digest(f) for f in await store.flags_by_id(conn, ids.get("flag", []))}
    now |= {("chain", c.flag_id): digest(c.stored_form()) for c in await store.chains(conn, ids.get("chain", []))}
    case = await store.get_case(conn, case_id)
    if case is not None:
        now[("case", case_id)] = case_digest(case)
    for line in await store.case_log(conn, case_id):
        now[("case_log", log_id(line))] = now[("case_log", str(line.log_seq))] = log_digest(line)
    now |= {("attachment", a): h for a, h in (await store.attachment_digests(conn, case_id)).items()}
    return now


def compare(entries: Sequence[ManifestEntry], now: dict[tuple[str, str], str], parties: dict[str, Party]) -> list[str]:
    """Records whose digest in the store differs from the manifest's."""
    problems = []
    for e in entries:
        current = digest(parties[e.id]) if e.kind == "party" and e.id in parties else now.get((e.kind, e.id))
        if current is None:
            problems.append(f"{e.kind} {e.id}: no longer in the store")
        elif current != e.sha256:
            problems.append(f"{e.kind} {e.id}: digest now {current}, manifest says {e.sha256}")
    return problems
