"""Verification before a sale: one verdict per code, from per-code state (never by scanning history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain import codes
from tracesvc.domain.events import Violation
from tracesvc.domain.verify import CodeCheck, check
from tracesvc.observability import metrics
from tracesvc.service.access import Principal, Role
from tracesvc.service.errors import InvalidArgument, PermissionDenied
from tracesvc.store.events import load_code_states
from tracesvc.store.registry import RegistryCache

MAX_CODES = 1000


@dataclass(frozen=True, slots=True)
class CodeQuery:
    """A code the POS is about to sell: `units` None means the whole pack."""

    code: str
    insurance_code: str = ""
    units: int | None = None


class Verifier:
    def __init__(self, engine: AsyncEngine, registry: RegistryCache) -> None:
        self._engine = engine
        self._registry = registry

    def region_of(self, party_id: str | None) -> str:
        """Where a seller is: verdicts name the region of an earlier sale, never who or whom."""
        return self._registry.region_of(party_id)

    async def verify(self, principal: Principal, party_id: str, queries: Sequence[CodeQuery]) -> list[CodeCheck]:
        """The verdicts for selling each code at `party_id`, in the order asked."""
        await self._registry.ensure_parties([party_id])
        if principal.role is Role.POS and not principal.may_act_for(party_id, self._registry.chain_of):
            raise PermissionDenied(f"this key may not verify for party {party_id}")
        violations = []
        if len(queries) > MAX_CODES:
            violations.append(Violation("codes", f"at most {MAX_CODES} per call"))
        await self._registry.refresh()
        if not self._registry.party_exists(party_id):
            violations.append(Violation("party_id", f"party {party_id!r} is not in the registry"))
        for n, q in enumerate(queries):
            if q.units is not None and q.units <= 0:
                violations.append(Violation(f"codes[{n}].units", f"units must be positive, got {q.units}"))
        if violations:
            raise InvalidArgument("invalid verify request", violations)
        prefixes = self._registry.manufacturer_prefixes
        keys = [_canonical(q.code, prefixes) for q in queries]
        states = await load_code_states(self._engine, [k for k in keys if k])
        checks = [
            check(
                q.code,
                party_id=party_id,
                state=states.get(key),
                product_of=self._registry.product,
                manufacturer_prefixes=prefixes,
                billed_insurance_code=q.insurance_code,
                units=q.units,
            )
            for q, key in zip(queries, keys, strict=True)
        ]
        metrics.verdicts(checks)
        return checks


def _canonical(raw: str, prefixes: frozenset[str]) -> str:
    """The code's canonical form, "" when it does not parse (its verdict then says why)."""
    try:
        return codes.parse(raw, prefixes).canonical
    except codes.CodeError:
        return ""
