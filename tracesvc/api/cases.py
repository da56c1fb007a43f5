"""EnforcementService, cases block (issue 16): thin handlers over `tracesvc.service.cases`.

`CaseServicer` is a class of its own; `tracesvc.api.enforcement.add_to_server` serves its methods
and `EnforcementServicer`'s as the one EnforcementService of the contract. Every case read is
audited like evidence; every case change is in the case log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import grpc

from tracesvc.api import auth
from tracesvc.api.enforcement_wire import flag_filter, flag_to_proto
from tracesvc.client.wire import to_datetime, to_timestamp
from tracesvc.documents import wording
from tracesvc.domain.events import Violation
from tracesvc.service import casefile, paging
from tracesvc.service.cases import MAX_BULK, Actor, CaseChange, Cases, CaseView
from tracesvc.service.enforcement import Enforcement
from tracesvc.service.errors import InvalidArgument
from tracesvc.service.suggest import Suggestion
from tracesvc.store import cases as case_store
from tracesvc.store.officers import Officer
from tracesvc.v1 import enforcement_pb2 as pb

Context = grpc.aio.ServicerContext[Any, Any]
CHUNK = 64 * 1024
_DECISION = {pb.REVIEW_DECISION_CONFIRM: "CONFIRMED", pb.REVIEW_DECISION_DISMISS: "DISMISSED"}
_MEMBER_KIND = {
    pb.CASE_MEMBER_KIND_FLAG: "FLAG",
    pb.CASE_MEMBER_KIND_CHAIN: "CHAIN",
    pb.CASE_MEMBER_KIND_CODE: "CODE",
    pb.CASE_MEMBER_KIND_BUYER: "BUYER",
}
_MEMBER_PB = {v: k for k, v in _MEMBER_KIND.items()}


def case_status_pb(name: str | None) -> str:
    """The wire enum's name (the message constructors take names) for a stored status."""
    return f"CASE_STATUS_{name}" if name else "CASE_STATUS_UNSPECIFIED"


def case_status_name(value: int) -> str:
    return pb.CaseStatus.Name(value).removeprefix("CASE_STATUS_") if value in pb.CaseStatus.values() else str(value)


def _defined_status(value: int, field: str = "status") -> str:
    """A status the contract defines, by name; INVALID_ARGUMENT for any other number."""
    if value not in pb.CaseStatus.values() or value == pb.CASE_STATUS_UNSPECIFIED:
        raise InvalidArgument(f"unknown status {value}", [Violation(field, "a CaseStatus the contract defines")])
    return case_status_name(value)


def case_to_proto(row: case_store.CaseRow, view: CaseView | None = None) -> pb.Case:
    out = pb.Case(
        case_id=row.case_id,
        title=row.title,
        subject_parties=row.subject_parties,
        region=row.region,
        assignee=row.assignee,
        status=case_status_pb(row.status),
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        flag_count=row.flag_count,
        money_fen=row.money_fen,
    )
    if row.deadline is not None:
        out.deadline.CopyFrom(to_timestamp(row.deadline))
        out.overdue = row.status not in case_store.CLOSED and row.deadline < datetime.now(UTC)
    if view is not None:
        out.attachments.extend(
            pb.CaseAttachment(
                attachment_id=a.attachment_id,
                kind=a.kind,
                file_name=a.file_name,
                media_type=a.media_type,
                description=a.description,
                sha256=a.sha256,
                size=a.size,
                added_by=a.added_by,
                added_at=to_timestamp(a.added_at),
            )
            for a in view.attachments
        )
        out.parties.extend(
            pb.CaseParty(
                party_id=p.party_id,
                role=p.role,
                role_text=wording.both(wording.PARTY_ROLES.get(p.role), p.role),
                reason="；".join(p.reasons),
            )
            for p in view.parties
        )
        out.members.extend(
            pb.CaseMember(kind=_MEMBER_PB[m.kind], ref=m.ref, added_by=m.added_by, added_at=to_timestamp(m.added_at))
            for m in view.members
        )
        out.log.extend(
            pb.CaseLogEntry(
                seq=e.case_no,
                global_seq=e.log_seq,
                officer_name=e.actor_name,
                officer_cert=e.actor_cert,
                at=to_timestamp(e.at),
                actor=e.actor,
                role=e.role,
                action=e.action,
                from_status=case_status_pb(e.from_status),
                to_status=case_status_pb(e.to_status),
                reason=e.reason,
                detail=e.detail,
            )
            for e in view.log
        )
    return out


def suggestion_to_proto(s: Suggestion) -> pb.SuggestedCase:
    members = (
        [pb.CaseMemberRef(kind=pb.CASE_MEMBER_KIND_FLAG, ref=f) for f in s.flag_ids]
        + [pb.CaseMemberRef(kind=pb.CASE_MEMBER_KIND_CHAIN, ref=c) for c in s.chain_ids]
        + [pb.CaseMemberRef(kind=pb.CASE_MEMBER_KIND_BUYER, ref=b) for b in s.buyer_tokens]
    )
    proposal = pb.CreateCaseRequest(
        title=s.title,
        subject_parties=s.suspects,
        region=s.region,
        reason=f"suggested case: {s.basis} {s.key}",
        members=members,
    )
    return pb.SuggestedCase(
        basis=s.basis,
        key=s.key,
        title=s.title,
        flag_ids=s.flag_ids,
        parties=s.parties,
        buyer_tokens=s.buyer_tokens,
        codes=s.codes,
        money_fen=s.money_fen,
        chains=s.boxes,
        proposal=proposal,
        links=[
            pb.SuggestionLink(
                flag_id=lk.flag_id,
                rule=lk.rule,
                kind=lk.kind,
                code=lk.code,
                buyer_token=lk.buyer_token,
                supplier_id=lk.supplier_id,
                why=lk.why,
            )
            for lk in s.links
        ],
        rank_reason=s.rank_reason,
    )


def _actor() -> Actor:
    who = auth.current()
    return Actor(who.key_id, who.role.value)


def _members(refs: Iterable[pb.CaseMemberRef]) -> list[tuple[str, str]]:
    out = []
    for n, ref in enumerate(refs):
        if ref.kind not in _MEMBER_KIND:
            wanted = Violation(f"members[{n}].kind", "FLAG, CHAIN, CODE or BUYER")
            raise InvalidArgument("unknown member kind", [wanted])
        out.append((_MEMBER_KIND[ref.kind], ref.ref))
    return out


async def mark_cases(cases: Cases, flags: Iterable[pb.Flag]) -> None:
    """Set each flag's case_id (one query for the lot)."""
    flags = list(flags)
    held = await cases.case_of_flags([f.flag_id for f in flags]) if flags else {}
    for f in flags:
        f.case_id = held.get(f.flag_id, "")


def _case_response(view: CaseView, *, with_flags: bool = False) -> pb.CaseResponse:
    out = pb.CaseResponse(case=case_to_proto(view.case, view))
    if with_flags:
        out.flags.extend(flag_to_proto(f) for f in view.flags)
        for f in out.flags:
            f.case_id = view.case.case_id
    return out


class CaseServicer:
    """The case handlers of EnforcementService: convert, call `Cases`, convert back."""

    def __init__(self, cases: Cases, enforcement: Enforcement) -> None:
        self._cases = cases
        self._enforcement = enforcement  # audits every case read as an evidence read

    async def _audit(self, method: str, target: str, detail: str = "") -> None:
        await self._enforcement.audit(auth.current(), method, target, detail)

    async def CreateCase(self, request: pb.CreateCaseRequest, context: Context) -> pb.CaseResponse:
        view = await self._cases.create(
            _actor(),
            title=request.title,
            subject_parties=list(request.subject_parties),
            region=request.region,
            assignee=request.assignee,
            reason=request.reason,
            refs=_members(request.members),
        )
        return _case_response(view)

    async def AddToCase(self, request: pb.ChangeCaseMembersRequest, context: Context) -> pb.CaseResponse:
        members = _members(request.members)
        return _case_response(await self._cases.add(_actor(), request.case_id.strip(), members, request.reason))

    async def RemoveFromCase(self, request: pb.ChangeCaseMembersRequest, context: Context) -> pb.CaseResponse:
        members = _members(request.members)
        return _case_response(await self._cases.remove(_actor(), request.case_id.strip(), members, request.reason))

    async def UpdateCase(self, request: pb.UpdateCaseRequest, context: Context) -> pb.CaseResponse:
        change = CaseChange(
            status=_defined_status(request.status) if request.status != pb.CASE_STATUS_UNSPECIFIED else None,
            review_flags=request.review_flags,
            title=request.title if request.title else None,
            assignee=request.assignee if request.assignee else None,
            deadline=to_datetime(request.deadline) if request.HasField("deadline") else None,
            clear_deadline=request.clear_deadline,
            note_only=request.note_only,
        )
        view = await self._cases.update(_actor(), request.case_id.strip(), change, request.reason)
        return _case_response(view)

    async def AddCaseAttachment(self, request: pb.AddCaseAttachmentRequest, context: Context) -> pb.CaseResponse:
        view = await self._cases.attach(
            _actor(),
            request.case_id.strip(),
            kind=request.kind,
            file_name=request.file_name,
            media_type=request.media_type,
            description=request.description,
            content=request.content,
            reason=request.reason,
        )
        return _case_response(view)

    async def BindOfficer(self, request: pb.BindOfficerRequest, context: Context) -> pb.BindOfficerResponse:
        o = await self._cases.bind_officer(Officer(request.key_id, request.name, request.cert_no, request.title))
        return pb.BindOfficerResponse(key_id=o.key_id, name=o.name, cert_no=o.cert_no, title=o.title)

    async def ListCaseReads(self, request: pb.ListCaseReadsRequest, context: Context) -> pb.ListCaseReadsResponse:
        case_id = request.case_id.strip()
        await self._audit("ListCaseReads", f"case-reads:{case_id}")
        rows = await self._cases.reads(case_id)
        return pb.ListCaseReadsResponse(
            reads=[
                pb.CaseRead(
                    at=to_timestamp(r.at),
                    key_id=r.key_id,
                    role=r.role,
                    method=r.method,
                    officer_name=r.officer_name,
                    officer_cert=r.officer_cert,
                )
                for r in rows
            ]
        )

    async def GetCase(self, request: pb.GetCaseRequest, context: Context) -> pb.CaseResponse:
        await self._audit("GetCase", f"case:{request.case_id.strip()}")
        return _case_response(await self._cases.get(request.case_id.strip()), with_flags=True)

    async def ListCases(self, request: pb.ListCasesRequest, context: Context) -> pb.ListCasesResponse:
        paging.position("case", request.page_token)  # a bad token is refused before the read is audited
        filt = case_store.CaseFilter(
            statuses=tuple(case_status_name(s) for s in request.statuses),
            party_id=request.party_id.strip(),
            region=request.region.strip(),
            assignee=request.assignee.strip(),
            created_from=to_datetime(request.created_from) if request.HasField("created_from") else None,
            created_to=to_datetime(request.created_to) if request.HasField("created_to") else None,
            text=request.text.strip()[:200],
            overdue=request.overdue,
        )
        await self._audit("ListCases", "cases", str(filt))
        page = await paging.fetch_page(
            "case",
            request.page_token,
            request.page_size,
            lambda after, limit: self._cases.list_cases(filt, int(after or 0), limit),
            lambda row: row.case_seq,
        )
        return pb.ListCasesResponse(cases=[case_to_proto(r) for r in page.items], next_page_token=page.next_token)

    async def ReviewFlags(self, request: pb.ReviewFlagsRequest, context: Context) -> pb.ReviewFlagsResponse:
        status = _DECISION.get(request.decision)
        if status is None:
            raise InvalidArgument("invalid review", [Violation("decision", "CONFIRM or DISMISS")])
        if bool(request.flag_ids) == request.HasField("filter"):
            raise InvalidArgument(
                "give flag_ids or a filter, not both", [Violation("flag_ids", "a list of flags, or else a filter")]
            )
        ids = list(request.flag_ids) or await self._cases.flag_ids_matching(
            flag_filter(request.filter, "filter.statuses"), MAX_BULK + 1
        )
        reviewed, skipped = await self._cases.review_flags(_actor(), ids, str(status), request.note)
        return pb.ReviewFlagsResponse(
            reviewed=reviewed, skipped=[pb.ReviewFailure(flag_id=i, reason=r) for i, r in skipped]
        )

    async def SuggestCases(self, request: pb.SuggestCasesRequest, context: Context) -> pb.SuggestCasesResponse:
        limit = paging.page_size(request.limit) if request.limit > 0 else 20
        min_flags = request.min_flags if request.min_flags > 0 else 3
        await self._audit("SuggestCases", "flags", f"limit={limit} min_flags={min_flags}")
        found = await self._cases.suggest(limit=limit, min_flags=min_flags)
        return pb.SuggestCasesResponse(suggestions=[suggestion_to_proto(s) for s in found])

    async def ExportCase(self, request: pb.ExportCaseRequest, context: Context) -> AsyncIterator[pb.ExportCaseResponse]:
        case_id = request.case_id.strip()
        await self._audit("ExportCase", f"case:{case_id}")
        rendered = await self._cases.export_file(_actor(), case_id)
        for start in range(0, len(rendered.pdf), CHUNK):
            yield pb.ExportCaseResponse(chunk=rendered.pdf[start : start + CHUNK])
        yield pb.ExportCaseResponse(manifest=manifest_to_proto(rendered.manifest))


def manifest_to_proto(m: casefile.Manifest) -> pb.CaseFileManifest:
    return pb.CaseFileManifest(
        case_id=m.case_id,
        file_name=m.file_name,
        file_bytes=m.file_bytes,
        file_sha256=m.file_sha256,
        generated_at=to_timestamp(m.generated_at),
        generated_by=m.generated_by,
        entries=[pb.ManifestEntry(kind=e.kind, id=e.id, sha256=e.sha256) for e in m.entries],
    )
