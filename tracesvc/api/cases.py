"""EnforcementService, cases block (issue 16): thin handlers over `tracesvc.service.cases`.

A mixin of `EnforcementServicer`, kept in its own module so the servicer's refactor and this
block merge apart. It uses the servicer's `_engine`, `_cache`, `_audit` and `_position`.
Every case read is audited like evidence; every case change is in the case log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import NoReturn, TypeVar

import grpc

from reconciler.store import FlagFilter
from tracesvc.api import auth, paging
from tracesvc.api.enforcement_wire import STATUS_NAME, flag_to_proto
from tracesvc.api.errors import abort
from tracesvc.client.wire import to_datetime, to_timestamp
from tracesvc.domain.events import Violation
from tracesvc.service import casefile
from tracesvc.service.cases import MAX_BULK, Actor, CaseError, Cases, CaseView
from tracesvc.service.suggest import Suggestion
from tracesvc.store import cases as case_store
from tracesvc.v1 import enforcement_pb2 as pb

T = TypeVar("T")
CHUNK = 64 * 1024
_GRPC_CODE = {
    "INVALID": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
}
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
    if view is not None:
        out.members.extend(
            pb.CaseMember(kind=_MEMBER_PB[m.kind], ref=m.ref, added_by=m.added_by, added_at=to_timestamp(m.added_at))
            for m in view.members
        )
        out.log.extend(
            pb.CaseLogEntry(
                seq=e.log_seq,
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
        subject_parties=s.parties,
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
        chains=len(s.chain_ids),
        proposal=proposal,
    )


def _actor() -> Actor:
    who = auth.current()
    return Actor(who.key_id, who.role.value)


class CaseMethods:
    """The case handlers of EnforcementService (mixed into its servicer, which provides these)."""

    _cases: Cases
    _audit: Callable[..., Awaitable[None]]
    _position: Callable[..., Awaitable[str]]

    async def _run(self, context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
        try:
            return await call
        except CaseError as exc:
            await self._refuse(context, exc)
        raise AssertionError("unreachable")  # abort raises

    async def _refuse(self, context: grpc.aio.ServicerContext, exc: CaseError) -> NoReturn:
        await abort(context, _GRPC_CODE[exc.kind], str(exc), exc.violations)
        raise AssertionError("unreachable")

    async def _members(
        self, context: grpc.aio.ServicerContext, refs: Iterable[pb.CaseMemberRef]
    ) -> list[tuple[str, str]]:
        out = []
        for n, ref in enumerate(refs):
            if ref.kind not in _MEMBER_KIND:
                await abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "unknown member kind",
                    [Violation(f"members[{n}].kind", "FLAG, CHAIN, CODE or BUYER")],
                )
            out.append((_MEMBER_KIND[ref.kind], ref.ref))
        return out

    async def mark_cases(self, flags: Iterable[pb.Flag]) -> None:
        """Set each flag's case_id (one query for the lot)."""
        flags = list(flags)
        held = await self._cases.case_of_flags([f.flag_id for f in flags]) if flags else {}
        for f in flags:
            f.case_id = held.get(f.flag_id, "")

    async def _case_response(self, view: CaseView, *, with_flags: bool = False) -> pb.CaseResponse:
        out = pb.CaseResponse(case=case_to_proto(view.case, view))
        if with_flags:
            out.flags.extend(flag_to_proto(f) for f in view.flags)
            for f in out.flags:
                f.case_id = view.case.case_id
        return out

    async def CreateCase(self, request: pb.CreateCaseRequest, context: grpc.aio.ServicerContext) -> pb.CaseResponse:
        members = await self._members(context, request.members)
        view = await self._run(
            context,
            self._cases.create(
                _actor(),
                title=request.title,
                subject_parties=list(request.subject_parties),
                region=request.region,
                assignee=request.assignee,
                reason=request.reason,
                refs=members,
            ),
        )
        return await self._case_response(view)

    async def AddToCase(
        self, request: pb.ChangeCaseMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaseResponse:
        members = await self._members(context, request.members)
        view = await self._run(context, self._cases.add(_actor(), request.case_id.strip(), members, request.reason))
        return await self._case_response(view)

    async def RemoveFromCase(
        self, request: pb.ChangeCaseMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaseResponse:
        members = await self._members(context, request.members)
        view = await self._run(context, self._cases.remove(_actor(), request.case_id.strip(), members, request.reason))
        return await self._case_response(view)

    async def UpdateCase(self, request: pb.UpdateCaseRequest, context: grpc.aio.ServicerContext) -> pb.CaseResponse:
        if request.status == pb.CASE_STATUS_UNSPECIFIED:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "status is required",
                [Violation("status", "the status to move the case to")],
            )
        view = await self._run(
            context,
            self._cases.update_status(
                _actor(), request.case_id.strip(), case_status_name(request.status), request.reason
            ),
        )
        return await self._case_response(view)

    async def GetCase(self, request: pb.GetCaseRequest, context: grpc.aio.ServicerContext) -> pb.CaseResponse:
        await self._audit("GetCase", f"case:{request.case_id.strip()}")
        view = await self._run(context, self._cases.get(request.case_id.strip()))
        return await self._case_response(view, with_flags=True)

    async def ListCases(self, request: pb.ListCasesRequest, context: grpc.aio.ServicerContext) -> pb.ListCasesResponse:
        position = await self._position(context, "case", request.page_token)
        filt = case_store.CaseFilter(
            statuses=tuple(case_status_name(s) for s in request.statuses),
            party_id=request.party_id.strip(),
            region=request.region.strip(),
            assignee=request.assignee.strip(),
        )
        size = paging.page_size(request.page_size)
        await self._audit("ListCases", "cases", str(filt))
        rows = await self._run(context, self._cases.list_cases(filt, int(position or 0), size + 1))
        token = paging.encode("case", rows[size - 1].case_seq) if len(rows) > size else ""
        return pb.ListCasesResponse(cases=[case_to_proto(r) for r in rows[:size]], next_page_token=token)

    async def _filtered_flag_ids(self, context: grpc.aio.ServicerContext, f: pb.ListFlagsRequest) -> list[str]:
        bad = [s for s in f.statuses if s not in STATUS_NAME]
        if bad:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "unknown status",
                [Violation("filter.statuses", f"unknown value {bad[0]}")],
            )
        filt = FlagFilter(
            rule=f.rule.strip().upper(),
            kind=f.kind.strip().upper(),
            party_id=f.party_id.strip(),
            region=f.region.strip(),
            occurred_from=to_datetime(f.occurred_from) if f.HasField("occurred_from") else None,
            occurred_to=to_datetime(f.occurred_to) if f.HasField("occurred_to") else None,
            statuses=tuple(STATUS_NAME[s] for s in f.statuses),
            code=f.code.strip(),
            buyer_token=f.buyer_token.strip().lower(),
        )
        return await self._cases.flag_ids_matching(filt, MAX_BULK + 1)

    async def ReviewFlags(
        self, request: pb.ReviewFlagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReviewFlagsResponse:
        status = _DECISION.get(request.decision)
        if status is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid review",
                [Violation("decision", "CONFIRM or DISMISS")],
            )
        if bool(request.flag_ids) == request.HasField("filter"):
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "give flag_ids or a filter, not both",
                [Violation("flag_ids", "a list of flags, or else a filter")],
            )
        ids = list(request.flag_ids) or await self._filtered_flag_ids(context, request.filter)
        reviewed, skipped = await self._run(context, self._cases.review_flags(_actor(), ids, str(status), request.note))
        return pb.ReviewFlagsResponse(
            reviewed=reviewed, skipped=[pb.ReviewFailure(flag_id=i, reason=r) for i, r in skipped]
        )

    async def SuggestCases(
        self, request: pb.SuggestCasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuggestCasesResponse:
        limit = paging.page_size(request.limit) if request.limit > 0 else 20
        min_flags = request.min_flags if request.min_flags > 0 else 3
        await self._audit("SuggestCases", "flags", f"limit={limit} min_flags={min_flags}")
        found = await self._cases.suggest(limit=limit, min_flags=min_flags)
        return pb.SuggestCasesResponse(suggestions=[suggestion_to_proto(s) for s in found])

    async def ExportCase(
        self, request: pb.ExportCaseRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ExportCaseResponse]:
        case_id = request.case_id.strip()
        actor = _actor()
        await self._audit("ExportCase", f"case:{case_id}")
        try:
            dossier = await self._cases.dossier(case_id, actor.key_id)
        except CaseError as exc:
            await self._refuse(context, exc)
        # WeasyPrint takes seconds on a big case: off the event loop.
        rendered = await asyncio.to_thread(casefile.render_pdf, dossier)
        await self._cases.record_export(actor, case_id, rendered.sha256, len(rendered.pdf))
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
