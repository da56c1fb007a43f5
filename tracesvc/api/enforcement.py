"""EnforcementService: code histories, flags and reviews, return chains, suspects, evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc

from reconciler.store.suspects import SuspectRole
from tracesvc.api import auth, convert
from tracesvc.api.cases import CaseServicer, mark_cases
from tracesvc.api.enforcement_wire import chain_to_proto, evidence_to_proto, flag_filter, flag_to_proto, history_entry
from tracesvc.domain.events import Violation
from tracesvc.service import paging
from tracesvc.service.cases import Cases
from tracesvc.service.enforcement import Decision, Enforcement, Subject
from tracesvc.service.errors import InvalidArgument
from tracesvc.v1 import enforcement_pb2, enforcement_pb2_grpc
from tracesvc.v1 import enforcement_pb2 as pb

Context = grpc.aio.ServicerContext[Any, Any]

_DECISION = {pb.REVIEW_DECISION_CONFIRM: Decision.CONFIRMED, pb.REVIEW_DECISION_DISMISS: Decision.DISMISSED}
_ROLE = {
    pb.SUSPECT_ROLE_BUYER: SuspectRole.BUYER,
    pb.SUSPECT_ROLE_SUPPLIER: SuspectRole.SUPPLIER,
    pb.SUSPECT_ROLE_PHARMACY: SuspectRole.PHARMACY,
}
_SUBJECT = {"flag_id": Subject.FLAG, "party_id": Subject.PARTY}
_METHODS = enforcement_pb2.DESCRIPTOR.services_by_name["EnforcementService"].methods_by_name


def add_to_server(server: grpc.aio.Server, evidence: EnforcementServicer, cases: CaseServicer) -> None:
    """Serve both classes as the contract's one EnforcementService: each method from the class
    that defines it (the generated registration only looks the handlers up by name)."""
    handlers = SimpleNamespace(**{m: getattr(cases if hasattr(CaseServicer, m) else evidence, m) for m in _METHODS})
    enforcement_pb2_grpc.add_EnforcementServiceServicer_to_server(handlers, server)


class EnforcementServicer(enforcement_pb2_grpc.EnforcementServiceServicer):
    """Code histories, flags and reviews, return chains, suspects, evidence (the cases are `CaseServicer`'s)."""

    def __init__(self, enforcement: Enforcement, cases: Cases) -> None:
        self._enforcement = enforcement
        self._cases = cases  # only to mark which case holds a flag

    async def GetCodeHistory(self, request: pb.GetCodeHistoryRequest, context: Context) -> pb.GetCodeHistoryResponse:
        found = await self._enforcement.code_history(auth.current(), request.code)
        out = pb.GetCodeHistoryResponse(
            canonical_code=found.canonical, entries=[history_entry(e, found.parties) for e in found.entries]
        )
        if found.product is not None:
            out.product.CopyFrom(convert.product_to_proto(found.product))
        return out

    async def ExportEvidence(
        self, request: pb.ExportEvidenceRequest, context: Context
    ) -> AsyncIterator[pb.ExportEvidenceResponse]:
        which = request.WhichOneof("subject")
        if which is None or not getattr(request, which).strip():
            raise InvalidArgument(
                "give a flag_id or a party_id", [Violation("subject", "one of flag_id or party_id is required")]
            )
        items = self._enforcement.export_evidence(auth.current(), _SUBJECT[which], getattr(request, which).strip())
        async for item in items:
            yield evidence_to_proto(item)

    async def ListFlags(self, request: pb.ListFlagsRequest, context: Context) -> pb.ListFlagsResponse:
        paging.position("flag", request.page_token)  # a bad token is refused before the filter is read
        filt = flag_filter(request)
        page = await paging.fetch_page(
            "flag",
            request.page_token,
            request.page_size,
            lambda after, limit: self._enforcement.list_flags(auth.current(), filt, int(after or 0), limit),
            lambda row: row.flag_seq,
        )
        out = pb.ListFlagsResponse(flags=[flag_to_proto(r) for r in page.items], next_page_token=page.next_token)
        await mark_cases(self._cases, out.flags)
        return out

    async def GetFlag(self, request: pb.GetFlagRequest, context: Context) -> pb.GetFlagResponse:
        flag = await self._enforcement.get_flag(auth.current(), request.flag_id.strip())
        out = pb.GetFlagResponse(flag=flag_to_proto(flag))
        await mark_cases(self._cases, [out.flag])
        return out

    async def ReviewFlag(self, request: pb.ReviewFlagRequest, context: Context) -> pb.ReviewFlagResponse:
        flag = await self._enforcement.review_flag(
            auth.current(), request.flag_id.strip(), _DECISION.get(request.decision), request.note.strip()
        )
        out = pb.ReviewFlagResponse(flag=flag_to_proto(flag))
        await mark_cases(self._cases, [out.flag])
        return out

    async def ListReturnChains(
        self, request: pb.ListReturnChainsRequest, context: Context
    ) -> pb.ListReturnChainsResponse:
        page = await paging.fetch_page(
            "chain",
            request.page_token,
            request.page_size,
            lambda after, limit: self._enforcement.list_chains(
                auth.current(),
                code=request.code.strip(),
                party_id=request.party_id.strip(),
                buyer_token=request.buyer_token.strip(),
                buyer_id=request.buyer_id.strip(),
                include_inactive=request.include_inactive,
                after=after,
                limit=limit,
            ),
            lambda row: row.flag_id,
        )
        return pb.ListReturnChainsResponse(
            chains=[chain_to_proto(r) for r in page.items], next_page_token=page.next_token
        )

    async def RankSuspects(self, request: pb.RankSuspectsRequest, context: Context) -> pb.RankSuspectsResponse:
        role = _ROLE.get(request.role)
        if role is None:
            raise InvalidArgument("role is required", [Violation("role", "BUYER, SUPPLIER or PHARMACY")])
        rows = await self._enforcement.rank_suspects(auth.current(), role, paging.page_size(request.limit))
        return pb.RankSuspectsResponse(
            suspects=[
                pb.Suspect(
                    id=r.id,
                    chains=r.chains,
                    codes=r.codes,
                    money_fen=r.money_fen,
                    b_flags=dict(r.b_flags),
                    b_money_fen=r.b_money_fen,
                    score=r.score,
                    reason=r.reason,
                )
                for r in rows
            ]
        )
