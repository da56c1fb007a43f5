"""Ingestion as one pipeline for every entry point (unary batches and the stream):
convert → validate against the registry → write → one acknowledgement per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.domain.events import Event, InvalidEvent, Violation, normalize_event
from tracesvc.store.events import Outcome, write_events
from tracesvc.store.registry import RegistryCache

log = structlog.get_logger(__name__)


class AckKind(StrEnum):
    STORED = "STORED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    CONFLICT = "CONFLICT"


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: str
    kind: AckKind
    message: str = ""
    violations: tuple[Violation, ...] = field(default=())


_FROM_OUTCOME = {Outcome.STORED: AckKind.STORED, Outcome.DUPLICATE: AckKind.DUPLICATE,
                 Outcome.CONFLICT: AckKind.CONFLICT}


class Ingestor:
    def __init__(self, engine: AsyncEngine, registry: RegistryCache, *, max_future: timedelta) -> None:
        self._engine = engine
        self._registry = registry
        self._max_future = max_future

    async def ingest(self, drafts: Sequence[tuple[Event, list[Violation]]]) -> list[Ack]:
        """Acknowledge each draft; an ack of STORED or DUPLICATE means it is committed."""
        await self._registry.refresh()
        await self._registry.ensure_parties({d.party_id for d, _ in drafts})
        acks: list[Ack | None] = [None] * len(drafts)
        valid: list[Event] = []
        valid_at: list[int] = []
        for i, (draft, violations) in enumerate(drafts):
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
        for i, result in zip(valid_at, await write_events(self._engine, valid), strict=True):
            acks[i] = Ack(drafts[i][0].event_id, _FROM_OUTCOME[result.outcome], result.reason)
        counts: dict[str, int] = {}
        for a in acks:
            assert a is not None
            counts[a.kind] = counts.get(a.kind, 0) + 1
        log.info("ingested", events=len(drafts), **{k.lower(): v for k, v in counts.items()})
        return [a for a in acks if a is not None]


def _describe(event_id: str, violations: Sequence[Violation]) -> str:
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"event {event_id or '<no id>'} rejected: {first.field}: {first.description}{more}"
