"""EnforcementService: flags, reviews, return chains, suspects."""

from __future__ import annotations

import json
from datetime import datetime

import grpc

from reconciler import queries
from tracesvc.api import paging
from tracesvc.api.convert import to_datetime, to_timestamp
from tracesvc.api.errors import abort
from tracesvc.domain import privacy
from tracesvc.domain.events import Violation
from tracesvc.store.db import pg
from tracesvc.v1 import enforcement_pb2 as pb
from tracesvc.v1 import enforcement_pb2_grpc

_STATUS_PB = {s: pb.FlagStatus.Value(f"FLAG_STATUS_{s}") for s in queries.FLAG_STATUSES}
_STATUS_NAME = {v: k for k, v in _STATUS_PB.items()}
_DECISION = {pb.REVIEW_DECISION_CONFIRM: "CONFIRMED", pb.REVIEW_DECISION_DISMISS: "DISMISSED"}
_ROLE = {pb.SUSPECT_ROLE_BUYER: "BUYER", pb.SUSPECT_ROLE_SUPPLIER: "SUPPLIER",
         pb.SUSPECT_ROLE_PHARMACY: "PHARMACY"}


def flag_to_proto(r) -> pb.Flag:
    out = pb.Flag(
        flag_id=r["flag_id"], rule=r["rule"], kind=r["kind"], severity=pb.Severity.Value(f"SEVERITY_{r['severity']}"),
        code=r["code"], decisive_event_id=r["decisive_event_id"], decisive_at=to_timestamp(r["decisive_at"]),
        subject_party=r["subject_party"], subject_region=r["subject_region"],
        related_parties=r["related_parties"], evidence_event_ids=r["evidence"], money_fen=r["money_fen"],
        detail=r["detail"], status=_STATUS_PB[r["status"]], detected_at=to_timestamp(r["detected_at"]),
        detected_run=r["detected_run"], resolved_reason=r["resolved_reason"] or "",
        reviewed_by=r["reviewed_by"] or "", review_note=r["review_note"] or "",
    )
    if r["resolved_at"]:
        out.resolved_at.CopyFrom(to_timestamp(r["resolved_at"]))
    if r["reviewed_at"]:
        out.reviewed_at.CopyFrom(to_timestamp(r["reviewed_at"]))
    return out


def _chain_sale(s: dict) -> pb.ChainSale:
    return pb.ChainSale(event_id=s["event_id"], party_id=s["party_id"],
                        occurred_at=to_timestamp(datetime.fromisoformat(s["occurred_at"])),
                        buyer_token=s["buyer_token"], fund_paid_fen=s["fund_paid_fen"], units=s["units"])


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def chain_to_proto(r) -> pb.ReturnChain:
    out = pb.ReturnChain(flag_id=r["flag_id"], code=r["code"], active=r["active"], money_fen=r["money_fen"],
                         originals=[_chain_sale(s) for s in _json(r["originals"])],
                         resales=[_chain_sale(s) for s in _json(r["resales"])])
    if r["reentry"] is not None:
        e = _json(r["reentry"])
        out.reentry.CopyFrom(pb.ChainEntry(event_id=e["event_id"], kind=e["kind"], party_id=e["party_id"],
                                           supplier_id=e["supplier_id"],
                                           occurred_at=to_timestamp(datetime.fromisoformat(e["occurred_at"]))))
    return out


class EnforcementServicer(enforcement_pb2_grpc.EnforcementServiceServicer):
    def __init__(self, engine, hmac_key: bytes) -> None:
        self._engine = engine
        self._key = hmac_key

    async def _position(self, context, kind: str, token: str) -> str:
        position = paging.decode(kind, token)
        if position is None:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "bad page_token",
                        [Violation("page_token", "not a token this method gave")])
        return position

    async def ListFlags(self, request, context):
        position = await self._position(context, "flag", request.page_token)
        bad = [s for s in request.statuses if s not in _STATUS_NAME]
        if bad:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "unknown status",
                        [Violation("statuses", f"unknown value {bad[0]}")])
        filt = queries.FlagFilter(
            rule=request.rule.strip().upper(), kind=request.kind.strip().upper(), party_id=request.party_id.strip(),
            region=request.region.strip(),
            occurred_from=to_datetime(request.occurred_from) if request.HasField("occurred_from") else None,
            occurred_to=to_datetime(request.occurred_to) if request.HasField("occurred_to") else None,
            statuses=tuple(_STATUS_NAME[s] for s in request.statuses), code=request.code.strip(),
        )
        size = paging.page_size(request.page_size)
        async with pg(self._engine) as conn:
            rows = await queries.list_flags(conn, filt, int(position or 0), size + 1)
        token = paging.encode("flag", rows[size - 1]["flag_seq"]) if len(rows) > size else ""
        return pb.ListFlagsResponse(flags=[flag_to_proto(r) for r in rows[:size]], next_page_token=token)

    async def GetFlag(self, request, context):
        async with pg(self._engine) as conn:
            row = await queries.get_flag(conn, request.flag_id.strip())
        if row is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no flag {request.flag_id}")
        return pb.GetFlagResponse(flag=flag_to_proto(row))

    async def ReviewFlag(self, request, context):
        status = _DECISION.get(request.decision)
        violations = []
        if status is None:
            violations.append(Violation("decision", "CONFIRM or DISMISS"))
        if status == "DISMISSED" and not request.note.strip():
            violations.append(Violation("note", "a dismissal needs a note saying why"))
        if violations:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "invalid review", violations)
        async with pg(self._engine) as conn:
            row = await queries.review_flag(conn, request.flag_id.strip(), status, request.note.strip(),
                                            reviewer_of(context))
            if row is None:
                exists = await queries.get_flag(conn, request.flag_id.strip())
        if row is None:
            if exists is None:
                await abort(context, grpc.StatusCode.NOT_FOUND, f"no flag {request.flag_id}")
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                        f"flag {request.flag_id} was resolved by later evidence: {exists['resolved_reason']}")
        return pb.ReviewFlagResponse(flag=flag_to_proto(row))

    async def ListReturnChains(self, request, context):
        position = await self._position(context, "chain", request.page_token)
        token = request.buyer_token.strip().lower()
        if request.buyer_id.strip():
            token = privacy.buyer_token(self._key, request.buyer_id)
        size = paging.page_size(request.page_size)
        async with pg(self._engine) as conn:
            rows = await queries.list_chains(conn, code=request.code.strip(), party_id=request.party_id.strip(),
                                             buyer_token=token, include_inactive=request.include_inactive,
                                             after=position or "", limit=size + 1)
        next_token = paging.encode("chain", rows[size - 1]["flag_id"]) if len(rows) > size else ""
        return pb.ListReturnChainsResponse(chains=[chain_to_proto(r) for r in rows[:size]],
                                           next_page_token=next_token)

    async def RankSuspects(self, request, context):
        role = _ROLE.get(request.role)
        if role is None:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "role is required",
                        [Violation("role", "BUYER, SUPPLIER or PHARMACY")])
        limit = paging.page_size(request.limit)
        async with pg(self._engine) as conn:
            rows = await queries.rank_suspects(conn, role, limit)
        return pb.RankSuspectsResponse(suspects=[
            pb.Suspect(id=r["id"], chains=r["chains"], codes=r["codes"], money_fen=r["money_fen"] or 0) for r in rows])


def reviewer_of(context: grpc.aio.ServicerContext) -> str:
    """Who is reviewing: the authenticated caller once authentication is on, else the peer address."""
    return f"peer:{context.peer()}"
