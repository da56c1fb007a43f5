"""EnforcementService: flags, reviews, return chains, suspects."""

from __future__ import annotations

import grpc

from reconciler import queries
from tracesvc.api import auth, convert, evidence, paging
from tracesvc.api.convert import to_datetime
from tracesvc.api.enforcement_wire import (
    STATUS_NAME,
    chain_to_proto,
    flag_to_proto,
    history_entry,
    load_parties_raw,
)
from tracesvc.api.errors import abort
from tracesvc.domain import codes, privacy
from tracesvc.domain.events import Violation
from tracesvc.store import keys as key_store
from tracesvc.store.db import pg
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import enforcement_pb2 as pb
from tracesvc.v1 import enforcement_pb2_grpc

_DECISION = {pb.REVIEW_DECISION_CONFIRM: "CONFIRMED", pb.REVIEW_DECISION_DISMISS: "DISMISSED"}
_ROLE = {pb.SUSPECT_ROLE_BUYER: "BUYER", pb.SUSPECT_ROLE_SUPPLIER: "SUPPLIER",
         pb.SUSPECT_ROLE_PHARMACY: "PHARMACY"}


class EnforcementServicer(enforcement_pb2_grpc.EnforcementServiceServicer):
    """Every read here is evidence: each call is written to the audit log (who, what, when)."""

    def __init__(self, engine, hmac_key: bytes, cache: RegistryCache) -> None:
        self._engine = engine
        self._key = hmac_key
        self._cache = cache

    async def _audit(self, method: str, target: str, detail: str = "") -> None:
        who = auth.current()
        await key_store.audit(self._engine, who.key_id, who.role.value, method, target[:500], detail[:2000])

    async def GetCodeHistory(self, request, context):
        await self._cache.refresh()
        try:
            parsed = codes.parse(request.code, self._cache.manufacturer_prefixes)
        except codes.CodeError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), [Violation("code", exc.reason)])
        await self._audit("GetCodeHistory", f"code:{parsed.canonical}")
        async with pg(self._engine) as conn:
            rows = await queries.code_history(conn, parsed.canonical)
            parties = await load_parties_raw(conn, {p for r in rows for p in (r["party_id"], r["counterparty_id"])})
        out = pb.GetCodeHistoryResponse(canonical_code=parsed.canonical,
                                        entries=[history_entry(r, parties) for r in rows])
        product = self._cache.product(getattr(parsed, "product_key", ""))
        if product is not None:
            out.product.CopyFrom(convert.product_to_proto(product))
        return out

    async def ExportEvidence(self, request, context):
        which = request.WhichOneof("subject")
        if which is None or not getattr(request, which).strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "give a flag_id or a party_id",
                        [Violation("subject", "one of flag_id or party_id is required")])
        subject = getattr(request, which).strip()
        await self._audit("ExportEvidence", f"{which.removesuffix('_id')}:{subject}")
        async for item in evidence.collect(self._engine, self._cache, which, subject):
            if item is None:
                await abort(context, grpc.StatusCode.NOT_FOUND, f"no {which.removesuffix('_id')} {subject}")
            yield item

    async def _position(self, context, kind: str, token: str) -> str:
        position = paging.decode(kind, token)
        if position is None:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "bad page_token",
                        [Violation("page_token", "not a token this method gave")])
        return position

    async def ListFlags(self, request, context):
        position = await self._position(context, "flag", request.page_token)
        bad = [s for s in request.statuses if s not in STATUS_NAME]
        if bad:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "unknown status",
                        [Violation("statuses", f"unknown value {bad[0]}")])
        filt = queries.FlagFilter(
            rule=request.rule.strip().upper(), kind=request.kind.strip().upper(), party_id=request.party_id.strip(),
            region=request.region.strip(),
            occurred_from=to_datetime(request.occurred_from) if request.HasField("occurred_from") else None,
            occurred_to=to_datetime(request.occurred_to) if request.HasField("occurred_to") else None,
            statuses=tuple(STATUS_NAME[s] for s in request.statuses), code=request.code.strip(),
            buyer_token=request.buyer_token.strip().lower(),
        )
        size = paging.page_size(request.page_size)
        await self._audit("ListFlags", "flags", str(filt))
        async with pg(self._engine) as conn:
            rows = await queries.list_flags(conn, filt, int(position or 0), size + 1)
        token = paging.encode("flag", rows[size - 1]["flag_seq"]) if len(rows) > size else ""
        return pb.ListFlagsResponse(flags=[flag_to_proto(r) for r in rows[:size]], next_page_token=token)

    async def GetFlag(self, request, context):
        await self._audit("GetFlag", f"flag:{request.flag_id.strip()}")
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
                                            auth.current().key_id)
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
        if request.buyer_id.strip():  # a person lookup: hashed here, audited as its token only
            token = privacy.buyer_token(self._key, request.buyer_id)
        target = ", ".join(f"{k}:{v}" for k, v in (("code", request.code.strip()), ("party", request.party_id.strip()),
                                                    ("buyer", token)) if v) or "chains"
        await self._audit("ListReturnChains", target, "person lookup by number" if request.buyer_id.strip() else "")
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
        await self._audit("RankSuspects", f"role:{role}")
        async with pg(self._engine) as conn:
            rows = await queries.rank_suspects(conn, role, limit)
        return pb.RankSuspectsResponse(suspects=[
            pb.Suspect(id=r["id"], chains=r["chains"], codes=r["codes"], money_fen=r["money_fen"] or 0) for r in rows])

