"""Where ingest work runs: the one place that decides between this process's event loop and the bulk lane.

A POS basket or a one-code sale (at most INLINE_MAX_CODES codes) stays on the serving loop, where
it is answered at once; a delivery note, an upload or a stream's large group goes to the niced
worker processes of the bulk lane (`tracesvc.api.bulk`), when the server has one. The same rule
for unary batches, stream groups and the HTTP intake's documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracesvc.api import convert
from tracesvc.api.bulk import INLINE_MAX_CODES, BulkLane
from tracesvc.api.ingest_pipeline import acks_of_batch, acks_of_group
from tracesvc.domain.events import Draft, EventKind
from tracesvc.service.access import UNRESTRICTED, Principal
from tracesvc.service.ingest import Ack, Ingestor
from tracesvc.v1 import ack_pb2, events_pb2


def codes_of(event: events_pb2.Event) -> int:
    """The codes an event carries (at least 1): the unit of the stream's budgets."""
    which = event.WhichOneof("kind")
    if which is None:
        return 1
    return codes_of_message(convert.ONEOF_KIND[which], getattr(event, which))


def codes_of_message(kind: EventKind, message: Any) -> int:
    """The codes one receipt, sale… carries (at least 1)."""
    if kind is EventKind.SALE:
        return max(1, sum(len(line.scanned) for line in message.lines))
    if kind is EventKind.SALE_RETURN:
        return max(1, len(message.codes))
    return max(1, len(message.items))


class IngestRouter:
    def __init__(self, inline: Ingestor, hmac_key: bytes, lane: BulkLane | None = None) -> None:
        self._inline = inline
        self._key = hmac_key
        self._lane = lane  # None: everything inline, on this process's event loop

    @property
    def registry_generation(self) -> int:
        return self._inline.registry_generation

    def _bulk(self, codes: int) -> BulkLane | None:
        """The lane, for work of more than INLINE_MAX_CODES codes on a server that has one."""
        return self._lane if codes > INLINE_MAX_CODES else None

    async def batch(self, kind: EventKind, messages: Sequence[Any], principal: Principal) -> list[ack_pb2.EventAck]:
        """A unary call's events of one kind, acked in order."""
        lane = self._bulk(sum(codes_of_message(kind, m) for m in messages))
        if lane is not None:
            return await lane.ingest_batch(kind, messages, principal, self.registry_generation)
        return await acks_of_batch(self._inline, self._key, kind, messages, principal)

    async def group(
        self, group: Sequence[events_pb2.Event], first_index: int, principal: Principal
    ) -> list[ack_pb2.EventAck]:
        """A stream's group, acked in order from `first_index`."""
        lane = self._bulk(sum(codes_of(e) for e in group))
        if lane is not None:
            return await lane.ingest_group(group, first_index, principal, self.registry_generation)
        return await acks_of_group(self._inline, self._key, group, first_index, principal)

    async def ingest(self, drafts: Sequence[Draft], principal: Principal = UNRESTRICTED) -> list[Ack]:
        """Drafts a document was mapped to (the HTTP intake), acked in order as `Ingestor.ingest` does."""
        lane = self._bulk(sum(max(1, len(d.event.code_rows())) for d in drafts))
        if lane is not None:
            return await lane.ingest_drafts(drafts, principal, self.registry_generation)
        return await self._inline.ingest(drafts, principal)
