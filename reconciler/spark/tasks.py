"""What runs on the executors: one call per bucket (a Spark partition), rules in chunks, flags synced.

Each task is a picklable object Spark ships to its Python workers; `__call__` gets the
partition's Arrow batches (rows sorted by code, or by sale) and yields one small row of
counts per chunk. The rules see exactly what the in-process engine gives them: the same
rows, merged by `code_events_from_rows`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import pyarrow as pa

from reconciler.judging import judge_buyers, judge_codes, judge_sales
from reconciler.rules import BuyerParams, Reference
from reconciler.rules.model import BuyerEvents, BuyerFinding, Judged
from reconciler.spark import sink
from reconciler.store.loads import code_events_from_rows, sale_as_judged
from reconciler.store.runs import Phase
from tracesvc.domain.events import Event

COUNTS_SCHEMA = "done long, flags_new long, flags_resolved long"
Row = dict[str, Any]


def _counts(c: sink.ChunkCounts) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"done": [c.done], "flags_new": [c.flags_new], "flags_resolved": [c.flags_resolved]}
    )


def chunks_by_key(batches: Iterator[pa.RecordBatch], key: str, size: int) -> Iterator[tuple[list[str], list[Row]]]:
    """Rows sorted by `key`, cut into chunks of `size` keys, never splitting one key's rows."""
    keys: list[str] = []
    rows: list[Row] = []
    for batch in batches:
        for row in batch.to_pylist():
            k = row[key]
            if not keys or keys[-1] != k:
                if len(keys) == size:
                    yield keys, rows
                    keys, rows = [], []
                keys.append(k)
            rows.append(row)
    if keys:
        yield keys, rows


@dataclass(frozen=True)
class _Task:
    dsn: str  # asyncpg DSN of the system of record
    run_id: int
    reference: Any  # a Broadcast[Reference]
    chunk: int

    def _sync(
        self,
        loop: asyncio.AbstractEventLoop,
        conns: list[asyncpg.Connection],
        *,
        phase: Phase,
        keys: Sequence[str],
        judged: Judged | Sequence[BuyerFinding],
        ref: Reference,
    ) -> pa.RecordBatch:
        """Sync one chunk on the bucket's connection (opened at its first chunk: empty buckets cost none)."""
        if not conns:
            conns.append(loop.run_until_complete(asyncpg.connect(self.dsn)))
        work = sink.sync_chunk(conns[0], self.run_id, phase=phase, keys=keys, judged=judged, parties=ref.parties)
        return _counts(loop.run_until_complete(work))

    @staticmethod
    def _close(loop: asyncio.AbstractEventLoop, conns: list[asyncpg.Connection]) -> None:
        for conn in conns:
            loop.run_until_complete(conn.close())
        loop.close()


@dataclass(frozen=True)
class CodeBucket(_Task):
    """Rules D, L, R over one bucket of codes."""

    skew_seconds: float = 600.0

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ref: Reference = self.reference.value
        skew = timedelta(seconds=self.skew_seconds)
        loop, conns = asyncio.new_event_loop(), list[asyncpg.Connection]()
        try:
            for codes, rows in chunks_by_key(batches, "code", self.chunk):
                judged = judge_codes(codes, code_events_from_rows(rows), ref, skew)
                yield self._sync(loop, conns, phase=Phase.CODES, keys=codes, judged=judged, ref=ref)
        finally:
            self._close(loop, conns)


@dataclass(frozen=True)
class SaleBucket(_Task):
    """Rule S over one bucket of sales."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ref: Reference = self.reference.value
        loop, conns = asyncio.new_event_loop(), list[asyncpg.Connection]()
        try:
            for ids, rows in chunks_by_key(batches, "event_id", self.chunk):
                commissioned = (
                    frozenset(c for r in rows for c in (r["commissioned"] or ()))
                    if ref.listed_products
                    else frozenset()
                )
                sales = [sale_as_judged(r["payload"], r["retracted"]) for r in rows]
                judged = judge_sales(sales, ref, commissioned)
                yield self._sync(loop, conns, phase=Phase.SALES, keys=ids, judged=judged, ref=ref)
        finally:
            self._close(loop, conns)


@dataclass(frozen=True)
class BuyerBucket(_Task):
    """Rule B over one bucket of buyer tokens: each token's sales and the refunds that name them."""

    params: dict[str, int] | None = None  # the run's recorded rule B parameters (BuyerParams.to_json)
    skew_seconds: float = 600.0

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ref: Reference = self.reference.value
        params = BuyerParams.from_json(self.params or {})
        skew = timedelta(seconds=self.skew_seconds)
        loop, conns = asyncio.new_event_loop(), list[asyncpg.Connection]()
        try:
            for tokens, rows in chunks_by_key(batches, "buyer_token", self.chunk):
                by_token: dict[str, BuyerEvents] = {t: BuyerEvents() for t in tokens}
                for r in rows:
                    events = by_token[r["buyer_token"]]
                    (events.sales if r["role"] == "sale" else events.refunds).append(
                        Event.from_json(json.loads(r["payload"]))
                    )
                found = judge_buyers(tokens, by_token, ref, params, skew)
                yield self._sync(loop, conns, phase=Phase.BUYERS, keys=tokens, judged=found, ref=ref)
        finally:
            self._close(loop, conns)
