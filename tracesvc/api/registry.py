"""RegistryService: parties and products, item by item, over `tracesvc.service.registry`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from tracesvc.api import convert, hygiene
from tracesvc.api.errors import status_proto
from tracesvc.domain.events import Violation
from tracesvc.domain.registry import Party, Product
from tracesvc.service.registry import Draft, ItemOutcome, Registry, check_batch_size
from tracesvc.v1 import ack_pb2, registry_pb2, registry_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
Item = TypeVar("Item", Party, Product)


def _result(outcome: ItemOutcome) -> ack_pb2.ItemResult:
    position, key, violations = outcome
    if not violations:
        return ack_pb2.ItemResult(index=position, key=key, status=ack_pb2.ACK_STATUS_STORED)
    status = status_proto(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{key or '<no key>'} rejected: " + "; ".join(f"{v.field}: {v.description}" for v in violations),
        violations,
    )
    return ack_pb2.ItemResult(index=position, key=key, status=ack_pb2.ACK_STATUS_REJECTED, error=status)


def _drafts(
    field: str, messages: Sequence[Any], from_proto: Callable[[Any], tuple[Item | None, list[Violation]]]
) -> list[Draft[Item]]:
    """Each message as a draft: its hygiene problems, else what converting it found."""
    check_batch_size(field, len(messages))  # before reading a single item of an oversized batch
    drafts: list[Draft[Item]] = []
    for msg in messages:
        violations = hygiene.violations(msg)
        drafts.append(Draft(None, violations) if violations else Draft(*from_proto(msg)))
    return drafts


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def UpsertParties(
        self, request: registry_pb2.UpsertPartiesRequest, context: Context
    ) -> registry_pb2.UpsertPartiesResponse:
        drafts = _drafts("parties", request.parties, convert.party_from_proto)
        outcomes = await self._registry.upsert_parties(drafts)
        return registry_pb2.UpsertPartiesResponse(results=[_result(o) for o in outcomes])

    async def UpsertProducts(
        self, request: registry_pb2.UpsertProductsRequest, context: Context
    ) -> registry_pb2.UpsertProductsResponse:
        drafts = _drafts("products", request.products, convert.product_from_proto)
        outcomes = await self._registry.upsert_products(drafts)
        return registry_pb2.UpsertProductsResponse(results=[_result(o) for o in outcomes])

    async def UpsertCommissionedCodes(
        self, request: registry_pb2.UpsertCommissionedCodesRequest, context: Context
    ) -> registry_pb2.UpsertCommissionedCodesResponse:
        added = await self._registry.commission_codes(request.prefix, list(request.codes))
        return registry_pb2.UpsertCommissionedCodesResponse(added=added)

    async def GetParty(self, request: registry_pb2.GetPartyRequest, context: Context) -> registry_pb2.GetPartyResponse:
        party = await self._registry.party(request.party_id)
        return registry_pb2.GetPartyResponse(party=convert.party_to_proto(party))

    async def GetProduct(
        self, request: registry_pb2.GetProductRequest, context: Context
    ) -> registry_pb2.GetProductResponse:
        which = request.WhichOneof("key")
        code = request.code if which == "code" else None
        prefix = request.prefix if which == "prefix" else ""
        product, canonical = await self._registry.product(prefix=prefix, code=code)
        return registry_pb2.GetProductResponse(product=convert.product_to_proto(product), canonical_code=canonical)
