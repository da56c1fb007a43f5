"""Ingestion as one pipeline for every entry point (unary batches and the stream):
convert → validate against the registry → write → one acknowledgement per event."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc import metrics
from tracesvc.api.auth import UNRESTRICTED, Principal
from tracesvc.domain.events import Event, EventKind, InvalidEvent, Violation, normalize_event
from tracesvc.domain.verify import CodeCheck, CodeState, check, fold
from tracesvc.store.events import Outcome, write_events
from tracesvc.store.registry import RegistryCache

log = structlog.get_logger(__name__)


# Validation is CPU work on the event loop: hand the loop back this often so a large batch
# does not hold up short calls (VerifyCodes p99) behind it.
_YIELD_EVERY = 25


class AckKind(StrEnum):
    STORED = "STORED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    DENIED = "DENIED"  # the caller may not write this event: rejected with PERMISSION_DENIED
    CONFLICT = "CONFLICT"


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: str
    kind: AckKind
    message: str = ""
    violations: tuple[Violation, ...] = field(default=())
    checks: tuple[CodeCheck, ...] = ()  # a stored sale's verdicts, per scanned value


_FROM_OUTCOME = {Outcome.STORED: AckKind.STORED, Outcome.DUPLICATE: AckKind.DUPLICATE,
                 Outcome.CONFLICT: AckKind.CONFLICT}


class Ingestor:
    def __init__(self, engine: AsyncEngine, registry: RegistryCache, *, max_future: timedelta) -> None:
        self._engine = engine
        self._registry = registry
        self._max_future = max_future

    def region_of(self, party_id: str | None) -> str:
        return self._registry.region_of(party_id)

    async def ingest(self, drafts: Sequence[tuple[Event, list[Violation]]],
                     principal: Principal = UNRESTRICTED) -> list[Ack]:
        """Acknowledge each draft; an ack of STORED or DUPLICATE means it is committed."""
        await self._registry.refresh()
        await self._registry.ensure_parties({d.party_id for d, _ in drafts} | {principal.party_id or ""})
        acks: list[Ack | None] = [None] * len(drafts)
        valid: list[Event] = []
        valid_at: list[int] = []
        for i, (draft, violations) in enumerate(drafts):
            if i and i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other calls (a POS verifying a code) run between events
            # Scope first: a denied caller learns nothing about the event's validity.
            denial = principal.write_denial(draft.kind, draft.party_id, self._registry.chain_of)
            if denial is not None:
                acks[i] = Ack(draft.event_id, AckKind.DENIED, denial)
                continue
            try:
                event = normalize_event(draft, self._registry, max_future=self._max_future)
            except InvalidEvent as exc:
                violations = violations + exc.violations
            else:
                if not violations:
                    valid.append(event)
                    valid_at.append(i)
                    continue
            acks[i] = Ack(draft.event_id, AckKind.REJECTED, _describe(draft.event_id, violations), tuple(violations))
        written = await metrics.timed_commit(write_events(self._engine, valid))
        states = dict(written.states_before)
        for i, event, result in zip(valid_at, valid, written.results, strict=True):
            checks: tuple[CodeCheck, ...] = ()
            if result.outcome is Outcome.STORED:
                if event.kind is EventKind.SALE:
                    checks = self._sale_checks(event, states)
                for code in {row[0] for row in event.code_rows() if row[3]}:
                    states[code] = fold(states.get(code, CodeState()), event, code)
            acks[i] = Ack(drafts[i][0].event_id, _FROM_OUTCOME[result.outcome], result.reason, checks=checks)
        counts: dict[str, int] = {}
        for a in acks:
            assert a is not None
            counts[a.kind] = counts.get(a.kind, 0) + 1
        log.info("ingested", events=len(drafts), **{k.lower(): v for k, v in counts.items()})
        metrics.ingested(drafts, acks)  # type: ignore[arg-type]  # every ack is set by now
        return [a for a in acks if a is not None]


    def _sale_checks(self, sale: Event, states: dict[str, CodeState]) -> tuple[CodeCheck, ...]:
        """What VerifyCodes would have said of each scanned value just before this sale."""
        return tuple(
            check(scan.code, party_id=sale.party_id, state=states.get(scan.code), product_of=self._registry.product,
                  manufacturer_prefixes=self._registry.manufacturer_prefixes,
                  billed_insurance_code=line.insurance_code, units=scan.units)
            for line in sale.lines for scan in line.scans
        )


def _describe(event_id: str, violations: Sequence[Violation]) -> str:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"event {event_id or '<no id>'} rejected: {first.field}: {first.description}{more}"
