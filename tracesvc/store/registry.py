"""Parties and products: upserts, look-ups, and the in-memory view ingestion validates against."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracesvc.domain.codes import CodeScheme
from tracesvc.domain.registry import Category, Licence, LicenceStatus, Party, PartyKind, Product, is_party_id
from tracesvc.store.db import pg
from tracesvc.store.intake import load_party_glns, replace_party_glns
from tracesvc.store.schema import licences, parties, products

# Re-read a little before the newest product seen: a row committed late may carry an earlier now().
_OVERLAP = timedelta(seconds=10)


def _licence_row(party_id: str, lic: Licence) -> dict:
    return {
        "party_id": party_id,
        "number": lic.number,
        "scope": lic.scope,
        "valid_from": lic.valid_from,
        "valid_to": lic.valid_to,
        "status_history": [[st.value, since.isoformat()] for st, since in lic.status_history],
    }


def _licence_from_row(row) -> Licence:
    return Licence(
        number=row.number,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        scope=row.scope,
        status_history=tuple((LicenceStatus(st), datetime.fromisoformat(ts)) for st, ts in row.status_history),
    )


def _product_from_row(row) -> Product:
    return Product(
        prefix=row.prefix,
        scheme=CodeScheme(row.scheme),
        pack_units=row.pack_units,
        category=Category(row.category),
        manufacturer_id=row.manufacturer_id,
        name=row.name,
        generic_name=row.generic_name,
        spec=row.spec,
        insurance_code=row.insurance_code,
        daily_units=row.daily_units,
    )


async def upsert_parties(engine: AsyncEngine, items: Sequence[Party]) -> None:
    """Insert or replace parties and, as a whole, their licences; one transaction."""
    if not items:
        return
    async with engine.begin() as conn:
        rows = [
            {
                "party_id": p.party_id,
                "kind": p.kind.value,
                "name": p.name,
                "region": p.region,
                "chain_id": p.chain_id,
                "reports_events": p.reports_events,
            }
            for p in items
        ]
        stmt = insert(parties).values(rows)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[parties.c.party_id],
                set_={
                    **{c: stmt.excluded[c] for c in ("kind", "name", "region", "chain_id", "reports_events")},
                    "updated_at": func.now(),
                },
            )
        )
        ids = [p.party_id for p in items]
        await conn.execute(delete(licences).where(licences.c.party_id.in_(ids)))
        lic_rows = [_licence_row(p.party_id, lic) for p in items for lic in p.licences]
        if lic_rows:
            await conn.execute(insert(licences), lic_rows)
        await replace_party_glns(conn, {p.party_id: p.glns for p in items})


async def upsert_products(engine: AsyncEngine, items: Sequence[Product]) -> None:
    if not items:
        return
    cols = (
        "scheme",
        "manufacturer_id",
        "name",
        "generic_name",
        "spec",
        "pack_units",
        "category",
        "insurance_code",
        "daily_units",
    )
    async with engine.begin() as conn:
        stmt = insert(products).values(
            [
                {
                    "prefix": p.prefix,
                    "scheme": p.scheme.value,
                    "manufacturer_id": p.manufacturer_id,
                    "name": p.name,
                    "generic_name": p.generic_name,
                    "spec": p.spec,
                    "pack_units": p.pack_units,
                    "category": p.category.value,
                    "insurance_code": p.insurance_code,
                    "daily_units": p.daily_units,
                }
                for p in items
            ]
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[products.c.prefix],
                set_={**{c: stmt.excluded[c] for c in cols}, "updated_at": func.now()},
            )
        )


async def add_commissioned_codes(engine: AsyncEngine, prefix: str, canonical_codes: Sequence[str]) -> int:
    """List codes as commissioned by the product's maker; return how many were new."""
    async with pg(engine) as conn, conn.transaction():
        await conn.execute("INSERT INTO commissioned_products (prefix) VALUES ($1) ON CONFLICT DO NOTHING", prefix)
        status = await conn.execute(
            "INSERT INTO commissioned_codes (code, prefix) SELECT c, $2 FROM unnest($1::text[]) c "
            "ON CONFLICT DO NOTHING",
            list(dict.fromkeys(canonical_codes)),
            prefix,
        )
    return int(status.split()[-1])


async def load_parties(conn: AsyncConnection, ids: Iterable[str] | None = None) -> dict[str, Party]:
    """Parties with their licences, all or those named."""
    q = select(parties)
    lq = select(licences).order_by(licences.c.party_id, licences.c.licence_pk)
    if ids is not None:
        ids = list(ids)
        q = q.where(parties.c.party_id.in_(ids))
        lq = lq.where(licences.c.party_id.in_(ids))
    by_party: dict[str, list[Licence]] = {}
    for row in await conn.execute(lq):
        by_party.setdefault(row.party_id, []).append(_licence_from_row(row))
    glns = await load_party_glns(conn, ids)
    return {
        row.party_id: Party(
            party_id=row.party_id,
            kind=PartyKind(row.kind),
            name=row.name,
            region=row.region,
            chain_id=row.chain_id,
            licences=tuple(by_party.get(row.party_id, ())),
            reports_events=row.reports_events,
            glns=glns.get(row.party_id, ()),
        )
        for row in await conn.execute(q)
    }


async def load_products(conn: AsyncConnection, since: datetime | None = None) -> list[tuple[Product, datetime]]:
    q = select(products)
    if since is not None:
        q = q.where(products.c.updated_at >= since)
    return [(_product_from_row(row), row.updated_at) for row in await conn.execute(q)]


async def get_party(engine: AsyncEngine, party_id: str) -> Party | None:
    async with engine.connect() as conn:
        return (await load_parties(conn, [party_id])).get(party_id)


async def get_product(engine: AsyncEngine, prefix: str) -> Product | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(products).where(products.c.prefix == prefix))).first()
        return _product_from_row(row) if row else None


class RegistryCache:
    """What ingestion validates against, kept in memory (reference data is small next to events).

    Products reload incrementally at most every `ttl` seconds; a party not seen yet is
    looked up in the database before a batch is validated, so another instance's
    registry writes are seen at once where they matter (an unknown reporting party).
    """

    def __init__(self, engine: AsyncEngine, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._party_region: dict[str, str] = {}  # party id -> region
        self._party_chain: dict[str, str] = {}  # party id -> chain id
        self._products: dict[str, Product] = {}
        self._manufacturer_prefixes: frozenset[str] = frozenset()
        self._products_seen_until: datetime | None = None
        self._loaded_at = 0.0
        # Bumped by every write this process makes through the cache: a copy of it in another
        # process (a bulk-lane worker) reloads when the number it is handed has moved.
        self.generation = 0

    # -- RegistryView --------------------------------------------------------------------------
    @property
    def manufacturer_prefixes(self) -> frozenset[str]:
        return self._manufacturer_prefixes

    def party_exists(self, party_id: str) -> bool:
        return party_id in self._party_region

    def region_of(self, party_id: str | None) -> str:
        return self._party_region.get(party_id or "", "")

    def chain_of(self, party_id: str | None) -> str:
        return self._party_chain.get(party_id or "", "")

    def _note(self, rows) -> None:
        for r in rows:
            self._party_region[r.party_id] = r.region
            self._party_chain[r.party_id] = r.chain_id

    def pack_units(self, product_key: str) -> int | None:
        product = self._products.get(product_key)
        return product.pack_units if product else None

    def product(self, product_key: str) -> Product | None:
        return self._products.get(product_key)

    # -- refresh -------------------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self._ttl:
            return
        async with self._engine.connect() as conn:
            since = self._products_seen_until
            rows = await load_products(conn, None if since is None else since.replace(microsecond=0) - _OVERLAP)
            if since is None:
                self._note(await conn.execute(select(parties.c.party_id, parties.c.region, parties.c.chain_id)))
        for product, updated_at in rows:
            self._products[product.prefix] = product
            if self._products_seen_until is None or updated_at > self._products_seen_until:
                self._products_seen_until = updated_at
        self._manufacturer_prefixes = frozenset(
            p.prefix for p in self._products.values() if p.scheme is CodeScheme.MANUFACTURER
        )
        self._loaded_at = time.monotonic()

    async def ensure_parties(self, party_ids: Iterable[str]) -> None:
        # Only well-formed ids are looked up: a hostile one (NUL, 100 kB) is simply not a party.
        missing = {p for p in party_ids if p and p not in self._party_region and is_party_id(p)}
        if not missing:
            return
        async with self._engine.connect() as conn:
            columns = select(parties.c.party_id, parties.c.region, parties.c.chain_id)
            self._note(await conn.execute(columns.where(parties.c.party_id.in_(missing))))

    def note_parties(self, items: Iterable[Party]) -> None:
        self._note(items)
        self.generation += 1

    def note_products(self, items: Iterable[Product]) -> None:
        self.generation += 1
        for p in items:
            self._products[p.prefix] = p
        self._manufacturer_prefixes = frozenset(
            p.prefix for p in self._products.values() if p.scheme is CodeScheme.MANUFACTURER
        )
