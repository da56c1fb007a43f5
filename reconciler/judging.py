"""How a batch of keys is judged, the same for both engines: pure functions of what was loaded.

The in-process runs (`reconciler.jobs`) and the Spark engine's buckets (`reconciler.spark.tasks`)
differ only in how they find keys and load their events; both call these, then
`reconciler.store.sync.sync_batch` to make the flags match. Unit-tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from reconciler.rules import BuyerParams, Reference, evaluate_buyer, evaluate_code, evaluate_sale
from reconciler.rules.model import BuyerEvents, BuyerFinding, CodeEvent, Judged
from tracesvc.domain.events import Event, EventKind


def may_find(history: Sequence[CodeEvent]) -> bool:
    """Whether rules D, L and R can find anything in a code's history: each is decided by a SALE of the
    code (D and L by the sale itself; R needs units sold before the custody-in and returns at once
    without a sale), so a code never sold has no finding and its evaluation can be skipped. Its old
    flags, if any, are still resolved: the batch's flags are synced against all its findings."""
    return any(e.kind is EventKind.SALE for e in history)


def judge_codes(
    codes: Sequence[str], events: Mapping[str, Sequence[CodeEvent]], ref: Reference, skew: timedelta
) -> Judged:
    """Rules D, L and R over a batch of codes."""
    # Parsed codes are remembered per batch only: each code is in one batch of a run.
    batch_ref = Reference(ref.parties, ref.products, ref.listed_products)
    out = Judged([], [])
    for code in codes:
        history = events.get(code)
        if not history or not may_find(history):
            continue
        result = evaluate_code(code, list(history), batch_ref, skew)
        out.findings.extend(result.findings)
        out.chains.extend(result.chains)
    return out


def judge_sales(sales: Sequence[Event], ref: Reference, commissioned: frozenset[str] = frozenset()) -> Judged:
    """Rule S over a batch of sales; `commissioned`: those of their scanned codes on a maker's list."""
    batch_ref = Reference(ref.parties, ref.products, ref.listed_products, commissioned)
    return Judged([f for sale in sales for f in evaluate_sale(sale, batch_ref)], [])


def judge_buyers(
    tokens: Sequence[str],
    events: Mapping[str, BuyerEvents],
    ref: Reference,
    params: BuyerParams,
    skew: timedelta,
) -> list[BuyerFinding]:
    """Rule B over a batch of buyer tokens, each finding with its token."""
    return [
        BuyerFinding(token, f)
        for token in tokens
        for f in evaluate_buyer(events[token].sales, events[token].refunds, ref, params, skew)
    ]
