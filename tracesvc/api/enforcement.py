"""EnforcementService: code histories, flags and reviews, return chains, suspects, evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from reconciler.store import FlagFilter, SuspectRole
from tracesvc.api import auth, convert, paging
from tracesvc.api.cases import CaseMethods
from tracesvc.api.enforcement_wire import (
    STATUS_NAME,
    chain_to_proto,
    evidence_to_proto,
    flag_to_proto,
    history_entry,
)
from tracesvc.api.errors import abort
from tracesvc.client.wire import to_datetime
from tracesvc.domain.events import Violation
from tracesvc.service.cases import Cases
from tracesvc.service.enforcement import Decision, Enforcement, Subject
from tracesvc.v1 import enforcement_pb2 as pb
from tracesvc.v1 import enforcement_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

_DECISION = {pb.REVIEW_DECISION_CONFIRM: Decision.CONFIRMED, pb.REVIEW_DECISION_DISMISS: Decision.DISMISSED}
_ROLE = {
    pb.SUSPECT_ROLE_BUYER: SuspectRole.BUYER,
    pb.SUSPECT_ROLE_SUPPLIER: SuspectRole.SUPPLIER,
    pb.SUSPECT_ROLE_PHARMACY: SuspectRole.PHARMACY,
}
_SUBJECT = {"flag_id": Subject.FLAG, "party_id": Subject.PARTY}


async def _decode_position(context: Context, kind: str, token: str) -> str:
    position = paging.decode(kind, token)
    if position is None:
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            "bad page_token",
            [Violation("page_token", "not a token this method gave")],
        )
    return position


def _flag_filter(request: pb.ListFlagsRequest) -> FlagFilter:
    return FlagFilter(
        rule=request.rule.strip().upper(),
        kind=request.kind.strip().upper(),
        party_id=request.party_id.strip(),
        region=request.region.strip(),
        occurred_from=to_datetime(request.occurred_from) if request.HasField("occurred_from") else None,
        occurred_to=to_datetime(request.occurred_to) if request.HasField("occurred_to") else None,
        statuses=tuple(STATUS_NAME[s] for s in request.statuses),
        code=request.code.strip(),
        buyer_token=request.buyer_token.strip().lower(),
    )


class EnforcementServicer(CaseMethods, enforcement_pb2_grpc.EnforcementServiceServicer):
    def __init__(self, enforcement: Enforcement, cases: Cases) -> None:
        self._enforcement = enforcement
        self._cases = cases

    async def _audit(self, method: str, target: str, detail: str = "") -> None:
        await self._enforcement.audit(auth.current(), method, target, detail)

    async def _position(self, context: Context, kind: str, token: str) -> str:
        return await _decode_position(context, kind, token)

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
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "give a flag_id or a party_id",
                [Violation("subject", "one of flag_id or party_id is required")],
            )
        items = self._enforcement.export_evidence(auth.current(), _SUBJECT[which], getattr(request, which).strip())
        async for item in items:
            yield evidence_to_proto(item)

    async def ListFlags(self, request: pb.ListFlagsRequest, context: Context) -> pb.ListFlagsResponse:
        position = await _decode_position(context, "flag", request.page_token)
        bad = [s for s in request.statuses if s not in STATUS_NAME]
        if bad:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "unknown status",
                [Violation("statuses", f"unknown value {bad[0]}")],
            )
        size = paging.page_size(request.page_size)
        rows = await self._enforcement.list_flags(auth.current(), _flag_filter(request), int(position or 0), size + 1)
        token = paging.encode("flag", rows[size - 1].flag_seq) if len(rows) > size else ""
        out = pb.ListFlagsResponse(flags=[flag_to_proto(r) for r in rows[:size]], next_page_token=token)
        await self.mark_cases(out.flags)
        return out

    async def GetFlag(self, request: pb.GetFlagRequest, context: Context) -> pb.GetFlagResponse:
        flag = await self._enforcement.get_flag(auth.current(), request.flag_id.strip())
        out = pb.GetFlagResponse(flag=flag_to_proto(flag))
        await self.mark_cases([out.flag])
        return out

    async def ReviewFlag(self, request: pb.ReviewFlagRequest, context: Context) -> pb.ReviewFlagResponse:
        flag = await self._enforcement.review_flag(
            auth.current(), request.flag_id.strip(), _DECISION.get(request.decision), request.note.strip()
        )
        out = pb.ReviewFlagResponse(flag=flag_to_proto(flag))
        await self.mark_cases([out.flag])
        return out

    async def ListReturnChains(
        self, request: pb.ListReturnChainsRequest, context: Context
    ) -> pb.ListReturnChainsResponse:
        position = await _decode_position(context, "chain", request.page_token)
        size = paging.page_size(request.page_size)
        rows = await self._enforcement.list_chains(
            auth.current(),
            code=request.code.strip(),
            party_id=request.party_id.strip(),
            buyer_token=request.buyer_token.strip(),
            buyer_id=request.buyer_id.strip(),
            include_inactive=request.include_inactive,
            after=position or "",
            limit=size + 1,
        )
        token = paging.encode("chain", rows[size - 1].flag_id) if len(rows) > size else ""
        return pb.ListReturnChainsResponse(chains=[chain_to_proto(r) for r in rows[:size]], next_page_token=token)

    async def RankSuspects(self, request: pb.RankSuspectsRequest, context: Context) -> pb.RankSuspectsResponse:
        role = _ROLE.get(request.role)
        if role is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "role is required",
                [Violation("role", "BUYER, SUPPLIER or PHARMACY")],
            )
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
