"""RegistryService: parties and products, item by item."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.api import convert, hygiene
from tracesvc.api.errors import abort, status_proto
from tracesvc.domain import codes
from tracesvc.domain.events import Violation
from tracesvc.domain.hygiene import quote
from tracesvc.domain.registry import validate_party, validate_product
from tracesvc.store import registry as store
from tracesvc.store.registry import RegistryCache
from tracesvc.v1 import ack_pb2, registry_pb2, registry_pb2_grpc

MAX_REGISTRY_BATCH = 5000

Context = grpc.aio.ServicerContext[Any, Any]
Item = TypeVar("Item")


def _rejected(index: int, key: str, violations: list[Violation]) -> ack_pb2.ItemResult:
    status = status_proto(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{key or '<no key>'} rejected: " + "; ".join(f"{v.field}: {v.description}" for v in violations),
        violations,
    )
    return ack_pb2.ItemResult(index=index, key=key, status=ack_pb2.ACK_STATUS_REJECTED, error=status)


def _stored(index: int, key: str) -> ack_pb2.ItemResult:
    return ack_pb2.ItemResult(index=index, key=key, status=ack_pb2.ACK_STATUS_STORED)


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, engine: AsyncEngine, cache: RegistryCache) -> None:
        self._engine = engine
        self._cache = cache

    async def _upsert(
        self,
        context: Context,
        *,
        field: str,
        messages: Sequence[Any],
        from_proto: Callable[[Any], tuple[Item | None, list[Violation]]],
        validate: Callable[[Item], list[Violation]],
        key_of: Callable[[Item], str],
        write: Callable[[AsyncEngine, Sequence[Item]], Any],
        note: Callable[[Iterable[Item]], None],
    ) -> list[ack_pb2.ItemResult]:
        if len(messages) > MAX_REGISTRY_BATCH:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"too many {field} in one call",
                [Violation(field, f"{len(messages)} items; at most {MAX_REGISTRY_BATCH} per call")],
            )
        results: list[ack_pb2.ItemResult] = []
        good: list[Item] = []
        seen: set[str] = set()
        for i, msg in enumerate(messages):
            violations = hygiene.violations(msg)
            item = None
            if not violations:
                item, violations = from_proto(msg)
            key = ""
            if item is not None:
                key = key_of(item)
                violations = validate(item)
                if key in seen:
                    violations.append(Violation(f"{field}[{i}]", f"{key} appears twice in this call"))
            if item is None or violations:
                results.append(_rejected(i, key, violations))
                continue
            seen.add(key)
            good.append(item)
            results.append(_stored(i, key))
        await write(self._engine, good)
        note(good)
        return results

    async def UpsertParties(
        self, request: registry_pb2.UpsertPartiesRequest, context: Context
    ) -> registry_pb2.UpsertPartiesResponse:
        results = await self._upsert(
            context,
            field="parties",
            messages=request.parties,
            from_proto=convert.party_from_proto,
            validate=validate_party,
            key_of=lambda p: p.party_id,
            write=store.upsert_parties,
            note=self._cache.note_parties,
        )
        return registry_pb2.UpsertPartiesResponse(results=results)

    async def UpsertProducts(
        self, request: registry_pb2.UpsertProductsRequest, context: Context
    ) -> registry_pb2.UpsertProductsResponse:
        results = await self._upsert(
            context,
            field="products",
            messages=request.products,
            from_proto=convert.product_from_proto,
            validate=validate_product,
            key_of=lambda p: p.prefix,
            write=store.upsert_products,
            note=self._cache.note_products,
        )
        return registry_pb2.UpsertProductsResponse(results=results)

    async def UpsertCommissionedCodes(
        self, request: registry_pb2.UpsertCommissionedCodesRequest, context: Context
    ) -> registry_pb2.UpsertCommissionedCodesResponse:
        prefix = request.prefix.strip()
        await self._cache.refresh(force=True)
        product = self._cache.product(prefix)
        if product is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no product with prefix {prefix} in the registry")
        if len(request.codes) > 100_000:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "too many codes in one call",
                [Violation("codes", "at most 100000 per call")],
            )
        canonical, violations = [], []
        for n, raw in enumerate(request.codes):
            try:
                parsed = codes.parse_trace(raw, self._cache.manufacturer_prefixes)
            except codes.CodeError as exc:
                violations.append(Violation(f"codes[{n}]", f"{quote(exc.value)}: {exc.reason}"))
                continue
            if parsed.product_key != prefix:
                violations.append(Violation(f"codes[{n}]", f"{parsed.canonical} is not a code of product {prefix}"))
            canonical.append(parsed.canonical)
        if violations:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "codes rejected; nothing listed", violations[:100])
        added = await store.add_commissioned_codes(self._engine, prefix, canonical)
        return registry_pb2.UpsertCommissionedCodesResponse(added=added)

    async def GetParty(self, request: registry_pb2.GetPartyRequest, context: Context) -> registry_pb2.GetPartyResponse:
        party_id = request.party_id.strip()
        if not party_id:
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "party_id is required", [Violation("party_id", "required")]
            )
        party = await store.get_party(self._engine, party_id)
        if party is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"party {party_id} is not in the registry")
        return registry_pb2.GetPartyResponse(party=convert.party_to_proto(party))

    async def GetProduct(
        self, request: registry_pb2.GetProductRequest, context: Context
    ) -> registry_pb2.GetProductResponse:
        canonical = ""
        which = request.WhichOneof("key")
        if which == "code":
            await self._cache.refresh()
            try:
                parsed = codes.parse_trace(request.code, self._cache.manufacturer_prefixes)
            except codes.CodeError as exc:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), [Violation("code", exc.reason)])
            canonical, prefix = parsed.canonical, parsed.product_key
        elif which == "prefix" and request.prefix.strip():
            prefix = request.prefix.strip()
        else:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "give a prefix or a code",
                [Violation("key", "one of prefix or code is required")],
            )
        product = await store.get_product(self._engine, prefix)
        if product is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no product with prefix {prefix} in the registry")
        return registry_pb2.GetProductResponse(product=convert.product_to_proto(product), canonical_code=canonical)
