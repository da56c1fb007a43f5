"""Enforcement cases as a use case (no gRPC): open a case, gather flags, chains, codes and buyers,
move it through investigation with a reason at every step, review flags in bulk, suggest cases,
and gather what a case file cites. Every change writes a line to the append-only case log in the
same transaction as the change itself."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciler.store.findings import FlagFilter, list_flags
from tracesvc.documents import fonts
from tracesvc.domain import codes
from tracesvc.domain.events import Violation
from tracesvc.service import boxes, casefile
from tracesvc.service.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tracesvc.service.suggest import Suggestion, suggest
from tracesvc.store import cases as store
from tracesvc.store import officers
from tracesvc.store.db import pg
from tracesvc.store.dossier import CaseView, Dossier
from tracesvc.store.findings import review_flags
from tracesvc.store.registry import RegistryCache, load_parties

MAX_TEXT, MAX_TITLE, MAX_MEMBERS, MAX_BULK = 2000, 200, 10_000, 10_000
MAX_ATTACHMENT = 16 * 1024 * 1024
ATTACHMENT_KINDS = ("INSPECTION_RECORD", "PHOTO", "SCAN", "OTHER")
# Closing a case can review its standing flags the same way, with the same reason.
CLOSING_REVIEW = {"CLOSED_CONFIRMED": "CONFIRMED", "CLOSED_DISMISSED": "DISMISSED"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[0-9a-f]{64}")


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    INVESTIGATING = "INVESTIGATING"
    ESCALATED = "ESCALATED"
    CLOSED_CONFIRMED = "CLOSED_CONFIRMED"
    CLOSED_DISMISSED = "CLOSED_DISMISSED"


class MemberKind(StrEnum):
    FLAG = "FLAG"
    CHAIN = "CHAIN"
    CODE = "CODE"
    BUYER = "BUYER"


# Where a case may go from each status. A closed case is final: new evidence opens a new case.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.INVESTIGATING, CaseStatus.CLOSED_DISMISSED}),
    CaseStatus.INVESTIGATING: frozenset(
        {CaseStatus.ESCALATED, CaseStatus.CLOSED_CONFIRMED, CaseStatus.CLOSED_DISMISSED}
    ),
    CaseStatus.ESCALATED: frozenset(
        {CaseStatus.INVESTIGATING, CaseStatus.CLOSED_CONFIRMED, CaseStatus.CLOSED_DISMISSED}
    ),
    CaseStatus.CLOSED_CONFIRMED: frozenset(),
    CaseStatus.CLOSED_DISMISSED: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    key_id: str
    role: str


def transition_refusal(current: str, target: str) -> str | None:
    """Why a case may not go from `current` to `target`, or None when it may."""
    if target not in CaseStatus.__members__:
        return f"unknown status {target[:40]!r}"
    if CaseStatus(target) in TRANSITIONS[CaseStatus(current)]:
        return None
    allowed = ", ".join(sorted(TRANSITIONS[CaseStatus(current)])) or "none: a closed case is final"
    return f"a case {current} cannot become {target} (allowed: {allowed})"


def clean_text(value: str, name: str, limit: int = MAX_TEXT, *, required: bool = False) -> str:
    """Trimmed text, or InvalidArgument naming the field."""
    text = value.strip()
    problem = ""
    if required and not text:
        problem = "required"
    elif len(text) > limit:
        problem = f"at most {limit} characters"
    elif _CONTROL.search(text.replace("\n", "")):
        problem = "control characters are not allowed"
    if problem:
        raise InvalidArgument(f"invalid {name}: {problem}", [Violation(name, problem)])
    return text


def _unknown_status(target: str) -> InvalidArgument:
    return InvalidArgument(
        f"unknown status {target[:40]!r}", [Violation("status", "one of " + ", ".join(CaseStatus.__members__))]
    )


@dataclass(frozen=True)
class CaseChange:
    """What UpdateCase asks: any of a status move, a title, an assignee, a deadline, or only a note."""

    status: str | None = None
    review_flags: bool = False
    title: str | None = None
    assignee: str | None = None
    deadline: datetime | None = None
    clear_deadline: bool = False
    note_only: bool = False


class Cases:
    def __init__(self, engine: AsyncEngine, registry: RegistryCache) -> None:
        self._engine = engine
        self._registry = registry

    # -- members ---------------------------------------------------------------------------------
    async def _normalise(self, refs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """(kind, ref) pairs checked and in canonical form: codes canonical, tokens lower-case."""
        if len(refs) > MAX_MEMBERS:
            raise InvalidArgument(f"at most {MAX_MEMBERS} members a call", [Violation("members", "too many")])
        await self._registry.refresh()
        out: list[tuple[str, str]] = []
        for n, (kind, raw) in enumerate(refs):
            where = f"members[{n}]"
            ref = clean_text(raw, f"{where}.ref", 200, required=True)
            if kind not in MemberKind.__members__:
                raise InvalidArgument("unknown member kind", [Violation(f"{where}.kind", "FLAG, CHAIN, CODE or BUYER")])
            if kind == MemberKind.CODE:
                try:
                    ref = codes.parse_trace(ref, self._registry.manufacturer_prefixes).canonical
                except codes.CodeError as exc:
                    raise InvalidArgument(str(exc), [Violation(f"{where}.ref", exc.reason)]) from exc
            elif kind == MemberKind.BUYER:
                ref = ref.lower()
                if not _TOKEN.fullmatch(ref):
                    raise InvalidArgument(
                        "a buyer is named by its 64-hex keyed token, never its number",
                        [Violation(f"{where}.ref", "not a buyer token")],
                    )
            out.append((kind, ref))
        return list(dict.fromkeys(out))

    async def _check_exist(self, conn: asyncpg.Connection, refs: Sequence[tuple[str, str]]) -> None:
        for kind in (MemberKind.FLAG, MemberKind.CHAIN, MemberKind.CODE):
            wanted = [r for k, r in refs if k == kind]
            missing = sorted(set(wanted) - await store.existing(conn, kind, wanted)) if wanted else []
            if missing:
                raise NotFound(
                    f"no {kind.lower()} {missing[0][:80]}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                )

    async def _check_flags_free(self, conn: asyncpg.Connection, case_id: str, refs: Sequence[tuple[str, str]]) -> None:
        held = await store.case_of_flags(conn, [r for k, r in refs if k == MemberKind.FLAG])
        elsewhere = {f: c for f, c in held.items() if c != case_id}
        if elsewhere:
            flag, other = next(iter(sorted(elsewhere.items())))
            raise FailedPrecondition(f"flag {flag} is already in case {other}: remove it there first")

    # -- commands ----------------------------------------------------------------------------------
    async def create(
        self,
        actor: Actor,
        *,
        title: str,
        subject_parties: Sequence[str],
        region: str,
        assignee: str,
        reason: str,
        refs: Sequence[tuple[str, str]],
    ) -> CaseView:
        title = clean_text(title, "title", MAX_TITLE, required=True)
        reason = clean_text(reason, "reason", required=True)
        parties = [clean_text(p, f"subject_parties[{n}]", 64, required=True) for n, p in enumerate(subject_parties)]
        region = clean_text(region, "region", 12)
        if region and not (region.isascii() and region.isdigit()):
            raise InvalidArgument("invalid region", [Violation("region", "ASCII digits only")])
        assignee = clean_text(assignee, "assignee", 100)
        members = await self._normalise(refs)
        case_id = f"CASE-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        async with pg(self._engine) as conn, conn.transaction():
            await self._check_exist(conn, members)
            await self._check_flags_free(conn, case_id, members)
            await store.insert_case(
                conn,
                case_id,
                title=title,
                subject_parties=parties,
                region=region,
                assignee=assignee,
                status=CaseStatus.OPEN,
                created_by=actor.key_id,
            )
            await store.append_log(
                conn,
                case_id,
                actor.key_id,
                actor.role,
                "CREATED",
                to_status=CaseStatus.OPEN,
                reason=reason,
                detail=title,
            )
            await self._add(conn, actor, case_id, members, reason)
        return await self.get(case_id)

    async def _add(
        self, conn: asyncpg.Connection, actor: Actor, case_id: str, members: Sequence[tuple[str, str]], reason: str
    ) -> None:
        for kind, ref in await store.add_members(conn, case_id, members, actor.key_id):
            await store.append_log(
                conn, case_id, actor.key_id, actor.role, "ADDED", reason=reason, detail=f"{kind} {ref}"
            )

    async def _open_case(self, conn: asyncpg.Connection, case_id: str) -> str:
        status = await store.lock_case(conn, case_id)
        if status is None:
            raise NotFound(f"no case {case_id[:80]}")
        return status

    async def add(self, actor: Actor, case_id: str, refs: Sequence[tuple[str, str]], reason: str) -> CaseView:
        reason = clean_text(reason, "reason", required=True)
        members = await self._normalise(refs)
        async with pg(self._engine) as conn, conn.transaction():
            if await self._open_case(conn, case_id) in store.CLOSED:
                raise FailedPrecondition(f"case {case_id} is closed: nothing can be added")
            await self._check_exist(conn, members)
            await self._check_flags_free(conn, case_id, members)
            await self._add(conn, actor, case_id, members, reason)
            await store.touch(conn, case_id)
        return await self.get(case_id)

    async def remove(self, actor: Actor, case_id: str, refs: Sequence[tuple[str, str]], reason: str) -> CaseView:
        reason = clean_text(reason, "reason", required=True)
        members = await self._normalise(refs)
        async with pg(self._engine) as conn, conn.transaction():
            if await self._open_case(conn, case_id) in store.CLOSED:
                raise FailedPrecondition(f"case {case_id} is closed: nothing can be removed")
            for kind, ref in await store.remove_members(conn, case_id, members):
                await store.append_log(
                    conn, case_id, actor.key_id, actor.role, "REMOVED", reason=reason, detail=f"{kind} {ref}"
                )
            await store.touch(conn, case_id)
        return await self.get(case_id)

    async def update(self, actor: Actor, case_id: str, change: CaseChange, reason: str) -> CaseView:
        """Apply a change in one transaction, one log line per part, all with the one reason."""
        reason = clean_text(reason, "reason", required=True)
        target, title, assignee, review = self._checked(actor, change)
        edits = title is not None or assignee is not None or change.deadline is not None or change.clear_deadline
        async with pg(self._engine) as conn, conn.transaction():
            current = await self._open_case(conn, case_id)
            if current in store.CLOSED and edits:
                raise FailedPrecondition(f"case {case_id} is closed: only a note can be added")
            row = await store.get_case(conn, case_id)
            assert row is not None
            if target is not None:
                refusal = transition_refusal(current, target)
                if refusal is not None:
                    raise FailedPrecondition(refusal)
                await store.set_status(conn, case_id, target)
                await self._log(conn, actor, case_id, "STATUS", from_status=current, to_status=target, reason=reason)
            if review is not None:
                await self._review_case_flags(conn, actor, case_id, review, reason)
            await self._edit(conn, actor, row, change, title=title, assignee=assignee, reason=reason)
            if change.note_only:
                await self._log(conn, actor, case_id, "NOTE", reason=reason)
                await store.touch(conn, case_id)
        return await self.get(case_id)

    @staticmethod
    def _checked(actor: Actor, change: CaseChange) -> tuple[str | None, str | None, str | None, str | None]:
        """(status, title, assignee, flag review) of a change, checked; InvalidArgument or PermissionDenied."""
        target = change.status
        if target is not None and target not in CaseStatus.__members__:
            raise _unknown_status(target)
        title = clean_text(change.title, "title", MAX_TITLE, required=True) if change.title is not None else None
        assignee = clean_text(change.assignee, "assignee", 100) if change.assignee is not None else None
        if change.deadline is not None and change.clear_deadline:
            raise InvalidArgument("a deadline or clear_deadline, not both", [Violation("deadline", "one of them")])
        edits = title is not None or assignee is not None or change.deadline is not None or change.clear_deadline
        if target is None and not edits and not change.note_only:
            raise InvalidArgument(
                "nothing to change", [Violation("status", "a status, title, assignee, deadline, or note_only")]
            )
        review = CLOSING_REVIEW.get(target or "") if change.review_flags else None
        if change.review_flags:
            if review is None:
                raise InvalidArgument(
                    "review_flags goes with closing",
                    [Violation("review_flags", "CLOSED_CONFIRMED or CLOSED_DISMISSED")],
                )
            if actor.role != "REGULATOR":
                raise PermissionDenied("reviewing flags is the regulator's: close without review_flags")
        return target, title, assignee, review

    async def _review_case_flags(
        self, conn: asyncpg.Connection, actor: Actor, case_id: str, review: str, reason: str
    ) -> None:
        held = [m.ref for m in await store.members(conn, case_id) if m.kind == MemberKind.FLAG]
        standing = [f.flag_id for f in await store.flags_by_id(conn, held) if f.status in ("OPEN", "CONFIRMED")]
        done = await review_flags(
            conn, standing, status=review, note=reason, reviewer=actor.key_id, role=actor.role, method="UpdateCase"
        )
        await self._log(
            conn, actor, case_id, "REVIEWED", reason=reason, detail=f"{review} {len(done)} flags of the case"
        )

    async def _edit(
        self,
        conn: asyncpg.Connection,
        actor: Actor,
        row: store.CaseRow,
        change: CaseChange,
        *,
        title: str | None,
        assignee: str | None,
        reason: str,
    ) -> None:
        case_id = row.case_id
        fields: dict[str, object] = {}
        if title is not None and title != row.title:
            fields["title"] = title
            await self._log(conn, actor, case_id, "TITLE", reason=reason, detail=f"{row.title} → {title}")
        if assignee is not None and assignee != row.assignee:
            fields["assignee"] = assignee
            await self._log(
                conn, actor, case_id, "ASSIGNED", reason=reason, detail=f"{row.assignee or '-'} → {assignee or '-'}"
            )
        if change.deadline is not None or (change.clear_deadline and row.deadline is not None):
            fields["deadline"] = change.deadline
            shown = change.deadline.astimezone(UTC).isoformat() if change.deadline else "none"
            await self._log(conn, actor, case_id, "DEADLINE", reason=reason, detail=f"deadline {shown}")
        if fields:
            await store.set_fields(conn, case_id, **fields)

    async def _log(self, conn: asyncpg.Connection, actor: Actor, case_id: str, action: str, **kw: object) -> None:
        await store.append_log(conn, case_id, actor.key_id, actor.role, action, **kw)  # type: ignore[arg-type]

    async def attach(
        self,
        actor: Actor,
        case_id: str,
        *,
        kind: str,
        file_name: str,
        media_type: str,
        description: str,
        content: bytes,
        reason: str,
    ) -> CaseView:
        """Store a document of the case whole, with its SHA-256, and log it."""
        reason = clean_text(reason, "reason", required=True)
        kind = kind.strip().upper() or "OTHER"
        if kind not in ATTACHMENT_KINDS:
            raise InvalidArgument("unknown attachment kind", [Violation("kind", ", ".join(ATTACHMENT_KINDS))])
        file_name = clean_text(file_name, "file_name", 200, required=True)
        if "/" in file_name or "\\" in file_name:
            raise InvalidArgument("invalid file_name", [Violation("file_name", "a name, not a path")])
        media_type = clean_text(media_type, "media_type", 100)
        description = clean_text(description, "description")
        if not content:
            raise InvalidArgument("empty attachment", [Violation("content", "required")])
        if len(content) > MAX_ATTACHMENT:
            raise InvalidArgument("attachment too large", [Violation("content", f"at most {MAX_ATTACHMENT} bytes")])
        sha = hashlib.sha256(content).hexdigest()
        row = store.AttachmentRow(
            f"ATT-{secrets.token_hex(6)}",
            case_id,
            kind,
            file_name,
            media_type,
            description,
            sha,
            len(content),
            actor.key_id,
            datetime.now(UTC),
        )
        async with pg(self._engine) as conn, conn.transaction():
            if await self._open_case(conn, case_id) in store.CLOSED:
                raise FailedPrecondition(f"case {case_id} is closed: nothing can be attached")
            await store.insert_attachment(conn, row, content)
            await self._log(
                conn,
                actor,
                case_id,
                "ATTACHED",
                reason=reason,
                detail=f"{row.attachment_id} {kind} {file_name} sha256:{sha} bytes:{len(content)}",
            )
            await store.touch(conn, case_id)
        return await self.get(case_id)

    async def reads(self, case_id: str) -> list[store.ReadRow]:
        async with pg(self._engine) as conn:
            if await store.get_case(conn, case_id) is None:
                raise NotFound(f"no case {case_id[:80]}")
            return await store.case_reads(conn, case_id)

    async def bind_officer(self, officer: officers.Officer) -> officers.Officer:
        """Bind the person to a key; NotFound when there is no such key. Log lines written before keep
        the name they were written with."""
        officer = officers.Officer(
            clean_text(officer.key_id, "key_id", 64, required=True),
            clean_text(officer.name, "name", 100, required=True),
            clean_text(officer.cert_no, "cert_no", 64, required=True),
            clean_text(officer.title, "title", 50),
        )
        async with pg(self._engine) as conn:
            if not await officers.bind(conn, officer):
                raise NotFound(f"no API key {officer.key_id[:64]}")
        return officer

    async def export_file(self, actor: Actor, case_id: str) -> casefile.Rendered:
        """The case file and its manifest, recorded in the case log as handed out to `actor`."""
        if not fonts.available():
            raise FailedPrecondition(f"this server cannot print Chinese: {fonts.INSTALL_HINT}")
        dossier = await self.dossier(case_id, actor.key_id)
        # WeasyPrint takes seconds on a big case: off the event loop.
        rendered = await asyncio.to_thread(casefile.render_pdf, dossier)
        await self.record_export(actor, case_id, rendered.sha256, len(rendered.pdf))
        return rendered

    async def record_export(self, actor: Actor, case_id: str, sha256: str, size: int) -> None:
        """The case file handed out, in the case log: a court can match a file's digest to it."""
        async with pg(self._engine) as conn, conn.transaction():
            await self._open_case(conn, case_id)  # the log numbers lines under the case's lock
            await store.append_log(
                conn,
                case_id,
                actor.key_id,
                actor.role,
                "EXPORTED",
                reason="case file exported",
                detail=f"sha256:{sha256} bytes:{size}",
            )

    # -- reads -------------------------------------------------------------------------------------
    async def get(self, case_id: str) -> CaseView:
        async with pg(self._engine) as conn:
            case = await store.get_case(conn, case_id)
            if case is None:
                raise NotFound(f"no case {case_id[:80]}")
            members = await store.members(conn, case_id)
            log = await store.case_log(conn, case_id)
            flags = await store.flags_by_id(conn, [m.ref for m in members if m.kind == MemberKind.FLAG])
            attachments = await store.attachments(conn, case_id)
            chains = await store.chains(
                conn, sorted({*(m.ref for m in members if m.kind == MemberKind.CHAIN), *(f.flag_id for f in flags)})
            )
        stories = boxes.boxes(chains, flags)
        buyers = [m.ref for m in members if m.kind == MemberKind.BUYER]
        roles = boxes.party_roles(case.subject_parties, flags, stories, buyers)
        return CaseView(case, members, log, flags, attachments, roles)

    async def list_cases(self, f: store.CaseFilter, after_seq: int, limit: int) -> list[store.CaseRow]:
        bad = [s for s in f.statuses if s not in CaseStatus.__members__]
        if bad:
            raise InvalidArgument("unknown status", [Violation("statuses", f"unknown value {bad[0][:40]}")])
        async with pg(self._engine) as conn:
            return await store.list_cases(conn, f, after_seq, limit)

    async def flag_ids_matching(self, f: FlagFilter, limit: int) -> list[str]:
        """Ids of the flags a ListFlags filter matches, at most `limit`."""
        out: list[str] = []
        after = 0
        async with pg(self._engine) as conn:
            while len(out) < limit and (page := await list_flags(conn, f, after, min(1000, limit - len(out)))):
                out += [r.flag_id for r in page]
                after = page[-1].flag_seq
        return out

    async def case_of_flags(self, flag_ids: Sequence[str]) -> dict[str, str]:
        async with pg(self._engine) as conn:
            return await store.case_of_flags(conn, flag_ids)

    async def review_flags(
        self, actor: Actor, flag_ids: Sequence[str], status: str, note: str
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Review many flags with one note; (reviewed, [(skipped flag, why)]). One audit line per flag."""
        note = clean_text(note, "note", required=True)
        ids = list(dict.fromkeys(i.strip() for i in flag_ids if i.strip()))
        if not ids:
            raise InvalidArgument("no flags to review", [Violation("flag_ids", "name flags or give a filter")])
        if len(ids) > MAX_BULK:
            raise InvalidArgument(
                f"at most {MAX_BULK} flags a call: narrow the filter",
                [Violation("filter", f"matches more than {MAX_BULK} flags")],
            )
        async with pg(self._engine) as conn, conn.transaction():
            found = {f.flag_id: f for f in await store.flags_by_id(conn, ids)}
            rows = await review_flags(
                conn,
                [i for i in ids if i in found],
                status=status,
                note=note,
                reviewer=actor.key_id,
                role=actor.role,
                method="ReviewFlags",
            )
        reviewed = [f.flag_id for f in rows]
        done = set(reviewed)
        skipped = [
            (i, "no such flag" if i not in found else f"resolved by later evidence: {found[i].resolved_reason or ''}")
            for i in ids
            if i not in done
        ]
        return reviewed, skipped

    async def suggest(self, *, limit: int = 20, min_flags: int = 3) -> list[Suggestion]:
        await self._registry.refresh()
        prefixes = self._registry.manufacturer_prefixes
        async with pg(self._engine) as conn:
            flags = await store.standing_flags(conn)
            chains = await store.chains(conn)
            batches = await store.batches_of_codes(conn, sorted({f.code for f in flags if f.rule != "S"}))
        return suggest(
            flags, chains, batches, lambda code: codes.product_key_of(code, prefixes), min_flags=min_flags, limit=limit
        )

    async def dossier(self, case_id: str, generated_by: str) -> Dossier:
        """What the case file holds: the case and its log, flags, chains, the custody timelines of its
        codes, the purchases of its buyers, every event they cite, and the parties involved."""
        view = await self.get(case_id)
        wanted = {k: [m.ref for m in view.members if m.kind == k] for k in MemberKind}
        async with pg(self._engine) as conn:
            chains = await store.chains(conn, sorted({*wanted[MemberKind.CHAIN], *(f.flag_id for f in view.flags)}))
            # S and B flags carry an insurance code in their code field, not a trace code.
            trace_codes = (f.code for f in view.flags if f.rule not in ("S", "B"))
            code_list = sorted({*wanted[MemberKind.CODE], *trace_codes, *(c.code for c in chains)})
            timelines = await store.code_timelines(conn, code_list)
            # The buyers the case names, and those its rule B flags are about.
            buyer_tokens = {*wanted[MemberKind.BUYER], *(f.buyer_token for f in view.flags if f.buyer_token)}
            buyers = await store.buyer_timelines(conn, sorted(buyer_tokens))
            event_ids = {e for f in view.flags for e in f.evidence} | {t.event_id for t in timelines + buyers}
            events = await store.events_with_digests(conn, sorted(event_ids))
        party_ids = (
            {p for f in view.flags for p in (f.subject_party, *f.related_parties)}
            | {p for e in events for p in (e.party_id, e.counterparty_id)}
            | set(view.case.subject_parties)
        )
        async with self._engine.connect() as sa_conn:
            parties = await load_parties(sa_conn, sorted(p for p in party_ids if p))
        async with pg(self._engine) as conn:
            officer = (await officers.by_key(conn, [generated_by])).get(generated_by)
        return Dossier(
            view,
            chains,
            events,
            _by_subject(timelines),
            _by_subject(buyers),
            parties,
            datetime.now(UTC),
            generated_by,
            boxes.boxes(chains, view.flags),
            f"{officer.name}（执法证号 {officer.cert_no}）" if officer else "",
        )


def _by_subject(rows: Sequence[store.TimelineRow]) -> dict[str, list[store.TimelineRow]]:
    out: dict[str, list[store.TimelineRow]] = {}
    for r in rows:
        out.setdefault(r.subject, []).append(r)
    return out
