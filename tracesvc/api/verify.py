"""VerifyService: verdicts before a sale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from tracesvc.api import auth
from tracesvc.client.wire import to_timestamp
from tracesvc.domain.verify import CodeCheck
from tracesvc.service.verify import CodeQuery, Verifier
from tracesvc.v1 import verify_pb2 as pb
from tracesvc.v1 import verify_pb2_grpc

RegionOf = Callable[[str | None], str]


def verdict_to_proto(c: CodeCheck, region_of: RegionOf) -> pb.CodeVerdict:
    """The wire verdict; the seller is shown by region only."""
    out = pb.CodeVerdict(
        code=c.given,
        canonical_code=c.canonical,
        verdict=f"VERDICT_{c.verdict}",
        message=c.message,
        product_name=c.product_name,
        units_left=c.units_left,
        sold_region=region_of(c.sold_by),
    )
    if c.sold_at is not None:
        out.sold_at.CopyFrom(to_timestamp(c.sold_at))
    return out


class VerifyServicer(verify_pb2_grpc.VerifyServiceServicer):
    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier

    async def VerifyCodes(
        self, request: pb.VerifyCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VerifyCodesResponse:
        queries = [
            CodeQuery(c.code, c.insurance_code.strip(), c.units if c.HasField("units") else None) for c in request.codes
        ]
        checks = await self._verifier.verify(auth.current(), request.party_id.strip(), queries)
        return pb.VerifyCodesResponse(verdicts=[verdict_to_proto(c, self._verifier.region_of) for c in checks])
