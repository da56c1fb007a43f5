"""SQL for intake (issue 11): GLN → party, intake evidence (decommissioning, retractions), EPCIS captures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracesvc.store.schema import epcis_captures, events, intake_evidence, licences, nhsa_rows, parties, party_glns


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    evidence_id: str
    kind: str  # DECOMMISSIONING | RETRACTION
    party_id: str
    occurred_at: datetime
    target_event_id: str = ""
    codes: tuple[str, ...] = ()
    reason: str = ""
    payload: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    capture_id: str
    key_id: str
    created_at: datetime
    finished_at: datetime | None
    success: bool | None
    results: dict[str, Any]


# -- GLNs ------------------------------------------------------------------------------------------


async def replace_party_glns(conn: AsyncConnection, glns_of: Mapping[str, Iterable[str]]) -> None:
    """Each named party's GLNs become exactly those given; a GLN moves to the party that names it last."""
    if not glns_of:
        return
    await conn.execute(delete(party_glns).where(party_glns.c.party_id.in_(list(glns_of))))
    rows = [{"gln": g, "party_id": p} for p, glns in glns_of.items() for g in glns]
    if rows:
        stmt = insert(party_glns).values(rows)
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=[party_glns.c.gln], set_={"party_id": stmt.excluded.party_id})
        )


async def load_party_glns(conn: AsyncConnection, ids: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    q = select(party_glns).order_by(party_glns.c.party_id, party_glns.c.gln)
    if ids is not None:
        q = q.where(party_glns.c.party_id.in_(list(ids)))
    out: dict[str, list[str]] = {}
    for row in await conn.execute(q):
        out.setdefault(row.party_id, []).append(row.gln)
    return {k: tuple(v) for k, v in out.items()}


async def resolve_glns(engine: AsyncEngine, glns: Iterable[str]) -> dict[str, str]:
    """GLN → party_id for those of `glns` the registry maps."""
    wanted = sorted(set(glns))
    if not wanted:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(select(party_glns).where(party_glns.c.gln.in_(wanted)))
        return {r.gln: r.party_id for r in rows}


@dataclass(frozen=True, slots=True)
class LicenceHolder:
    party_id: str
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class SupplierIndex:
    """Who holds a licence number (over time), and the one party that bears a name."""

    holders: dict[str, list[LicenceHolder]]
    by_name: dict[str, str]

    def resolve(self, licence: str, name: str, when: datetime | None = None) -> str | None:
        """The party holding `licence` at `when` (else its latest holder: a lapsed licence still names
        whose it was, and rule L judges the lapse), else the one party named `name`, else None."""
        held = self.holders.get(licence, [])
        if when is not None:
            for h in held:
                if h.valid_from <= when and (h.valid_to is None or when < h.valid_to):
                    return h.party_id
        if held:
            return held[-1].party_id
        return self.by_name.get(name)


async def resolve_suppliers(engine: AsyncEngine, licence_numbers: Iterable[str], names: Iterable[str]) -> SupplierIndex:
    """The registry's parties for these licence numbers and names. A name shared by several parties
    resolves to none of them (a wrong supplier is worse than an unknown one for rule L)."""
    numbers, wanted_names = sorted(set(licence_numbers) - {""}), sorted(set(names) - {""})
    holders: dict[str, list[LicenceHolder]] = {}
    by_name: dict[str, str] = {}
    if not numbers and not wanted_names:  # sales and refunds name no supplier: no round trip for them
        return SupplierIndex(holders, by_name)
    async with engine.connect() as conn:
        if numbers:
            rows = await conn.execute(
                select(licences.c.number, licences.c.party_id, licences.c.valid_from, licences.c.valid_to)
                .where(licences.c.number.in_(numbers))
                .order_by(licences.c.number, licences.c.valid_from)
            )
            for r in rows:
                holders.setdefault(r.number, []).append(LicenceHolder(r.party_id, r.valid_from, r.valid_to))
        if wanted_names:
            named = select(parties.c.name, parties.c.party_id).where(parties.c.name.in_(wanted_names))
            bearers: dict[str, set[str]] = {}
            for bearer in await conn.execute(named):
                bearers.setdefault(bearer.name, set()).add(bearer.party_id)
            by_name = {name: next(iter(ids)) for name, ids in bearers.items() if len(ids) == 1}
    return SupplierIndex(holders, by_name)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    party_id: str
    received_at: datetime
    payload: dict[str, Any]


async def stored_event(engine: AsyncEngine, event_id: str) -> StoredEvent | None:
    """A stored event as it was stored (its canonical payload), or None."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(events.c.event_id, events.c.party_id, events.c.received_at, events.c.payload).where(
                    events.c.event_id == event_id
                )
            )
        ).first()
    return StoredEvent(row.event_id, row.party_id, row.received_at, row.payload) if row else None


async def record_nhsa_rows(engine: AsyncEngine, party_id: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """Keep (data type, row serial, event id) of stored NHSA rows, for a later 3507 (re-sends change nothing)."""
    if not rows:
        return
    values = [{"party_id": party_id, "data_type": d, "serial": s, "event_id": e} for d, s, e in rows]
    async with engine.begin() as conn:
        await conn.execute(insert(nhsa_rows).values(values).on_conflict_do_nothing())


async def events_of_nhsa_rows(
    engine: AsyncEngine, party_id: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """(data type, row serial) → the event ids the party stored under it."""
    if not keys:
        return {}
    found: dict[tuple[str, str], list[str]] = {}
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(nhsa_rows.c.data_type, nhsa_rows.c.serial, nhsa_rows.c.event_id)
            .where(nhsa_rows.c.party_id == party_id, nhsa_rows.c.serial.in_(sorted({s for _, s in keys})))
            .order_by(nhsa_rows.c.event_id)
        )
        for r in rows:
            if (r.data_type, r.serial) in set(keys):
                found.setdefault((r.data_type, r.serial), []).append(r.event_id)
    return found


# -- evidence --------------------------------------------------------------------------------------


async def store_evidence(engine: AsyncEngine, items: Sequence[EvidenceRow]) -> list[bool]:
    """Insert evidence rows (immutable); per item True when new, False when its id was stored before."""
    if not items:
        return []
    async with engine.begin() as conn:
        stmt = (
            insert(intake_evidence)
            .values(
                [
                    {
                        "evidence_id": e.evidence_id,
                        "kind": e.kind,
                        "party_id": e.party_id,
                        "occurred_at": e.occurred_at,
                        "target_event_id": e.target_event_id,
                        "codes": list(e.codes),
                        "reason": e.reason,
                        "payload": dict(e.payload or {}),
                    }
                    for e in items
                ]
            )
            .on_conflict_do_nothing(index_elements=[intake_evidence.c.evidence_id])
            .returning(intake_evidence.c.evidence_id)
        )
        new = set((await conn.execute(stmt)).scalars())
    return [e.evidence_id in new for e in items]


async def parties_of_events(engine: AsyncEngine, event_ids: Iterable[str]) -> dict[str, str]:
    """event_id → the party that reported it, for the stored ones among `event_ids`."""
    wanted = sorted(set(event_ids))
    if not wanted:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(select(events.c.event_id, events.c.party_id).where(events.c.event_id.in_(wanted)))
        return {r.event_id: r.party_id for r in rows}


# -- EPCIS captures --------------------------------------------------------------------------------


async def create_capture(engine: AsyncEngine, capture_id: str, key_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(epcis_captures).values(capture_id=capture_id, key_id=key_id))


async def finish_capture(engine: AsyncEngine, capture_id: str, success: bool, results: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(epcis_captures)
            .where(epcis_captures.c.capture_id == capture_id)
            .values(finished_at=func.now(), success=success, results=results)
        )


async def get_capture(engine: AsyncEngine, capture_id: str) -> Capture | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(epcis_captures).where(epcis_captures.c.capture_id == capture_id))).first()
    if row is None:
        return None
    return Capture(row.capture_id, row.key_id, row.created_at, row.finished_at, row.success, dict(row.results))
