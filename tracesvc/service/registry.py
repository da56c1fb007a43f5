"""Reference data: parties, products and makers' code lists, item by item.

The servicer turns each wire message into a draft (a domain value, or the violations that kept it
from being one); this use case validates, de-duplicates within the call, writes and updates the
cache. Lookups raise `service.errors` like every other use case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain import codes
from tracesvc.domain.events import Violation
from tracesvc.domain.hygiene import quote
from tracesvc.domain.registry import Party, Product, validate_party, validate_product
from tracesvc.service.errors import InvalidArgument, NotFound
from tracesvc.store import registry as store
from tracesvc.store.registry import RegistryCache

MAX_REGISTRY_BATCH = 5000
MAX_COMMISSIONED = 100_000

Item = TypeVar("Item", Party, Product)


class Draft(NamedTuple, Generic[Item]):
    """One message of a batch as its transport read it: the value, or why there is none."""

    item: Item | None
    violations: list[Violation]


class ItemOutcome(NamedTuple):
    """Per item of a batch: stored when `violations` is empty."""

    position: int
    key: str
    violations: list[Violation]


class Registry:
    def __init__(self, engine: AsyncEngine, cache: RegistryCache) -> None:
        self._engine = engine
        self._cache = cache

    async def upsert_parties(self, drafts: Sequence[Draft[Party]]) -> list[ItemOutcome]:
        outcomes, good = _judge("parties", drafts, validate_party, lambda p: p.party_id)
        await store.upsert_parties(self._engine, good)
        self._cache.note_parties(good)
        return outcomes

    async def upsert_products(self, drafts: Sequence[Draft[Product]]) -> list[ItemOutcome]:
        outcomes, good = _judge("products", drafts, validate_product, lambda p: p.prefix)
        await store.upsert_products(self._engine, good)
        self._cache.note_products(good)
        return outcomes

    async def commission_codes(self, prefix: str, raw_codes: Sequence[str]) -> int:
        """List a maker's codes of one product: all or nothing (a list with a bad code is refused whole)."""
        prefix = prefix.strip()
        await self._cache.refresh(force=True)
        if self._cache.product(prefix) is None:
            raise NotFound(f"no product with prefix {prefix} in the registry")
        if len(raw_codes) > MAX_COMMISSIONED:
            too_many = Violation("codes", f"at most {MAX_COMMISSIONED} per call")
            raise InvalidArgument("too many codes in one call", [too_many])
        canonical, violations = [], []
        for n, raw in enumerate(raw_codes):
            try:
                parsed = codes.parse_trace(raw, self._cache.manufacturer_prefixes)
            except codes.CodeError as exc:
                violations.append(Violation(f"codes[{n}]", f"{quote(exc.value)}: {exc.reason}"))
                continue
            if parsed.product_key != prefix:
                violations.append(Violation(f"codes[{n}]", f"{parsed.canonical} is not a code of product {prefix}"))
            canonical.append(parsed.canonical)
        if violations:
            raise InvalidArgument("codes rejected; nothing listed", violations[:100])
        return await store.add_commissioned_codes(self._engine, prefix, canonical)

    async def party(self, party_id: str) -> Party:
        party_id = party_id.strip()
        if not party_id:
            raise InvalidArgument("party_id is required", [Violation("party_id", "required")])
        party = await store.get_party(self._engine, party_id)
        if party is None:
            raise NotFound(f"party {party_id} is not in the registry")
        return party

    async def product(self, *, prefix: str = "", code: str | None = None) -> tuple[Product, str]:
        """A product by its prefix, or by one of its codes (then also the code's canonical form)."""
        canonical = ""
        if code is not None:
            await self._cache.refresh()
            try:
                parsed = codes.parse_trace(code, self._cache.manufacturer_prefixes)
            except codes.CodeError as exc:
                raise InvalidArgument(str(exc), [Violation("code", exc.reason)]) from exc
            canonical, prefix = parsed.canonical, parsed.product_key
        elif not prefix.strip():
            raise InvalidArgument("give a prefix or a code", [Violation("key", "one of prefix or code is required")])
        prefix = prefix.strip()
        product = await store.get_product(self._engine, prefix)
        if product is None:
            raise NotFound(f"no product with prefix {prefix} in the registry")
        return product, canonical


def check_batch_size(field: str, count: int) -> None:
    if count > MAX_REGISTRY_BATCH:
        raise InvalidArgument(
            f"too many {field} in one call", [Violation(field, f"{count} items; at most {MAX_REGISTRY_BATCH} per call")]
        )


def _judge(
    field: str,
    drafts: Sequence[Draft[Item]],
    validate: Callable[[Item], list[Violation]],
    key_of: Callable[[Item], str],
) -> tuple[list[ItemOutcome], list[Item]]:
    check_batch_size(field, len(drafts))
    outcomes: list[ItemOutcome] = []
    good: list[Item] = []
    seen: set[str] = set()
    for i, (item, found) in enumerate(drafts):
        key, violations = "", found
        if item is not None:
            key = key_of(item)
            violations = validate(item)
            if key in seen:
                violations.append(Violation(f"{field}[{i}]", f"{key} appears twice in this call"))
        if item is None or violations:
            outcomes.append(ItemOutcome(i, key, violations))
            continue
        seen.add(key)
        good.append(item)
        outcomes.append(ItemOutcome(i, key, []))
    return outcomes, good
