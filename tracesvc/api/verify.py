"""VerifyService: verdicts before a sale, from per-code state (never by scanning history)."""

from __future__ import annotations

import grpc

from tracesvc import metrics
from tracesvc.api import auth
from tracesvc.api.convert import to_timestamp
from tracesvc.api.errors import abort
from tracesvc.domain import codes
from tracesvc.domain.events import Violation
from tracesvc.domain.verify import CodeCheck, CodeState, check
from tracesvc.store.db import pg
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import verify_pb2 as pb
from tracesvc.v1 import verify_pb2_grpc

MAX_CODES = 1000
_STATE = ("SELECT code, sold_whole, sold_units, returned_whole, returned_units, last_sale_at, last_sale_party, "
          "holders FROM code_state WHERE code = ANY($1::text[])")


def verdict_to_proto(c: CodeCheck, region_of) -> pb.CodeVerdict:
    """The wire verdict; the seller is shown by region only."""
    out = pb.CodeVerdict(code=c.given, canonical_code=c.canonical, verdict=pb.Verdict.Value(f"VERDICT_{c.verdict}"),
                         message=c.message, product_name=c.product_name, units_left=c.units_left,
                         sold_region=region_of(c.sold_by))
    if c.sold_at is not None:
        out.sold_at.CopyFrom(to_timestamp(c.sold_at))
    return out


async def load_states(engine, canonical_codes: list[str]) -> dict[str, CodeState]:
    async with pg(engine) as conn:
        rows = await conn.fetch(_STATE, canonical_codes)
    return {r["code"]: CodeState(r["sold_whole"], r["sold_units"], r["returned_whole"], r["returned_units"],
                                 r["last_sale_at"], r["last_sale_party"], frozenset(r["holders"])) for r in rows}


class VerifyServicer(verify_pb2_grpc.VerifyServiceServicer):
    def __init__(self, engine, cache: RegistryCache) -> None:
        self._engine = engine
        self._cache = cache

    async def VerifyCodes(self, request, context):
        party_id = request.party_id.strip()
        await self._cache.ensure_parties([party_id])
        if not auth.current().may_act_for(party_id, self._cache.chain_of) and auth.current().role is auth.Role.POS:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, f"this key may not verify for party {party_id}")
        violations = []
        if len(request.codes) > MAX_CODES:
            violations.append(Violation("codes", f"at most {MAX_CODES} per call"))
        await self._cache.refresh()
        if not self._cache.party_exists(party_id):
            violations.append(Violation("party_id", f"party {party_id!r} is not in the registry"))
        for n, c in enumerate(request.codes):
            if c.HasField("units") and c.units <= 0:
                violations.append(Violation(f"codes[{n}].units", f"units must be positive, got {c.units}"))
        if violations:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "invalid verify request", violations)
        prefixes = self._cache.manufacturer_prefixes
        keys = []
        for c in request.codes:
            try:
                keys.append(codes.parse(c.code, prefixes).canonical)
            except codes.CodeError:
                keys.append("")
        states = await load_states(self._engine, [k for k in keys if k])
        checks = [check(c.code, party_id=party_id, state=states.get(key), product_of=self._cache.product,
                        manufacturer_prefixes=prefixes, billed_insurance_code=c.insurance_code.strip(),
                        units=c.units if c.HasField("units") else None)
                  for c, key in zip(request.codes, keys, strict=True)]
        metrics.verdicts(checks)
        return pb.VerifyCodesResponse(verdicts=[verdict_to_proto(c, self._cache.region_of) for c in checks])
