"""Gauges the database keeps (flags standing, reconciliation lag, the newest runs), read at scrape
time from `tracesvc.store.ops`: runs made by another process (the CronJob) show as well."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from tracesvc.store.ops import Standing

STANDING_TIMEOUT = 5.0


class StandingCollector:
    """Figures the database keeps (flags standing, reconciliation lag and last runs), queried at scrape.

    The scrape runs in the HTTP server's thread; the query runs on the server's event loop.
    """

    def __init__(self, query: Callable[[], Awaitable[Standing]], loop: asyncio.AbstractEventLoop) -> None:
        self._query = query
        self._loop = loop

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        ok = GaugeMetricFamily("tracesvc_standing_query_ok", "1 when the scrape-time database query answered.")
        try:
            future = asyncio.run_coroutine_threadsafe(_call(self._query), self._loop)
            standing = future.result(STANDING_TIMEOUT)
        except Exception:  # an unreachable database must not fail the scrape of everything else
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        yield from _standing_families(standing)


async def _call(query: Callable[[], Awaitable[Standing]]) -> Standing:
    return await query()


def _standing_families(s: Standing) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    flags = GaugeMetricFamily(
        "tracesvc_flags", "Flags standing, by rule, kind and review status.", labels=("rule", "kind", "status")
    )
    for f in s.flags:
        flags.add_metric([f.rule, f.kind, f.status], f.flags)
    yield flags
    yield GaugeMetricFamily(
        "tracesvc_reconcile_lag_seconds",
        "Age of the oldest stored event that no finished run has reconciled (0: none).",
        value=s.lag_seconds,
    )
    failed = GaugeMetricFamily(
        "tracesvc_reconcile_last_run_failed",
        "1 when the newest run of the mode FAILED (and was not resumed).",
        labels=("mode",),
    )
    families = {
        name: GaugeMetricFamily(f"tracesvc_reconcile_last_run_{name}", f"{help_} by the newest run.", labels=("mode",))
        for name, help_ in (
            ("codes", "Codes evaluated"),
            ("sales", "Sales evaluated"),
            ("flags_new", "Flags raised"),
            ("flags_resolved", "Flags resolved"),
        )
    }
    for r in s.last_runs:
        failed.add_metric([r.mode], 1 if r.status == "FAILED" else 0)
        for name, value in (
            ("codes", r.codes_done),
            ("sales", r.sales_done),
            ("flags_new", r.flags_new),
            ("flags_resolved", r.flags_resolved),
        ):
            families[name].add_metric([r.mode], value)
    yield failed
    yield from families.values()
    success = GaugeMetricFamily(
        "tracesvc_reconcile_last_success_timestamp_seconds",
        "When the newest DONE run of the mode finished (Unix time).",
        labels=("mode",),
    )
    for mode, at in s.last_success.items():
        success.add_metric([mode], at.timestamp())
    yield success
