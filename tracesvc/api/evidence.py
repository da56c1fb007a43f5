"""ExportEvidence: everything behind a flag or a party, as a stream an inspector can file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from reconciler import queries
from tracesvc.api import convert
from tracesvc.api.convert import to_timestamp
from tracesvc.api.enforcement_wire import chain_to_proto, flag_to_proto
from tracesvc.domain.codes import product_key_of
from tracesvc.domain.events import Event
from tracesvc.domain.registry import Party
from tracesvc.store.db import pg
from tracesvc.store.registry import RegistryCache, load_parties
from tracesvc.v1 import enforcement_pb2 as pb

_PAGE = 500


def _standing(party: Party | None, party_id: str, event: Event) -> pb.PartyStanding:
    status = "NONE"
    if party is not None:
        statuses = [s for s in (lic.status_at(event.occurred_at) for lic in party.licences) if s is not None]
        if statuses:
            status = "ACTIVE" if any(s.value == "ACTIVE" for s in statuses) else statuses[0].value
    return pb.PartyStanding(
        party_id=party_id,
        at=to_timestamp(event.occurred_at),
        event_id=event.event_id,
        licensed=status == "ACTIVE",
        licence_status=status,
    )


async def collect(
    engine, cache: RegistryCache, which: str, subject: str
) -> AsyncIterator[pb.ExportEvidenceResponse | None]:
    """Yield the evidence items; yield None first (and stop) when the subject does not exist."""
    async with pg(engine) as conn:
        event_ids: list[str] = []
        party_ids: set[str] = set()
        codes: set[str] = set()
        if which == "flag_id":
            flag = await queries.get_flag(conn, subject)
            if flag is None:
                yield None
                return
            yield pb.ExportEvidenceResponse(flag=flag_to_proto(flag))
            flags = [flag]
            if flag["rule"] != "S":
                codes.add(flag["code"])
                event_ids += [r["event_id"] for r in await queries.code_history(conn, flag["code"])]
            chains = await conn.fetch("SELECT * FROM return_chains WHERE flag_id = $1", subject)
        else:
            if not await conn.fetchval("SELECT 1 FROM parties WHERE party_id = $1", subject):
                yield None
                return
            party_ids.add(subject)
            flags, after = [], 0
            while page := await queries.flags_of_party(conn, subject, after, _PAGE):
                for f in page:
                    yield pb.ExportEvidenceResponse(flag=flag_to_proto(f))
                flags += page
                after = page[-1]["flag_seq"]
            chains = await queries.list_chains(conn, party_id=subject, include_inactive=True, limit=100_000)
        for f in flags:
            event_ids += f["evidence"]
            party_ids.update([f["subject_party"], *f["related_parties"]])
            if f["rule"] != "S":
                codes.add(f["code"])
        for c in chains:
            yield pb.ExportEvidenceResponse(chain=chain_to_proto(c))
        ordered = list(dict.fromkeys(event_ids))
        events = []
        for i in range(0, len(ordered), _PAGE):
            events += [Event.from_json(json.loads(p)) for p in await queries.events_by_id(conn, ordered[i : i + _PAGE])]
        for ev in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
            party_ids.update(p for p in (ev.party_id, ev.counterparty_id) if p)
            yield pb.ExportEvidenceResponse(event=convert.event_to_proto(ev))
        async with engine.connect() as sa_conn:
            parties = await load_parties(sa_conn, sorted(party_ids))
    for party_id in sorted(party_ids):
        if party_id in parties:
            yield pb.ExportEvidenceResponse(party=convert.party_to_proto(parties[party_id]))
    for ev in events:
        for party_id in dict.fromkeys(p for p in (ev.party_id, ev.counterparty_id) if p):
            yield pb.ExportEvidenceResponse(standing=_standing(parties.get(party_id), party_id, ev))
    await cache.refresh()
    for code in sorted(codes):
        key = product_key_of(code, cache.manufacturer_prefixes)
        product = cache.product(key) if key else None
        if product is not None:
            yield pb.ExportEvidenceResponse(product=convert.product_to_proto(product))
