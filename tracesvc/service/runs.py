"""Reconciliation run control for the service: start, resume and watch runs in the background."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from reconciler import spark
from reconciler.jobs import Engine, Mode, Reconciler, RunInfo, Status
from reconciler.rules import BuyerParams
from reconciler.spark.launch import LAKE_ENV, run_detached, service_lake
from tracesvc.domain.events import Violation
from tracesvc.service.errors import FailedPrecondition, InvalidArgument, NotFound


class RunControl:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    async def start(
        self,
        mode: Mode | None,
        window_from: datetime | None,
        window_to: datetime | None,
        *,
        wait: bool,
        buyer_params: Mapping[str, int] | None = None,
        engine: Engine = Engine.IN_PROCESS,
        buckets: int = 0,
        lake_day: date | None = None,
    ) -> RunInfo:
        """Record a run and execute it in the background; with `wait`, return when it has ended. A Spark
        run reads the server's lake if it has one (`TRACESVC_LAKE`), else its database; `lake_day`
        makes an incremental Spark run the daily run over that day of the lake."""
        if mode is None:
            raise InvalidArgument("mode is required", [Violation("mode", "FULL or INCREMENTAL")])
        if (window_from or window_to) and mode is Mode.INCREMENTAL:
            raise InvalidArgument(
                "a window applies to full runs only", [Violation("window_from", "only with mode FULL")]
            )
        if window_from and window_to and window_from >= window_to:
            raise InvalidArgument("empty window", [Violation("window_to", "must be after window_from")])
        try:  # rule B's parameters for this run over the server's
            params = BuyerParams.from_json(buyer_params or {}, base=self._reconciler.buyer_params)
        except ValueError as exc:
            raise InvalidArgument("bad rule B parameters", [Violation("buyer_params", str(exc))]) from exc
        lake = service_lake() if engine is Engine.SPARK else None
        if engine is Engine.SPARK:
            _check_spark(mode, window_from or window_to, lake_day, lake)
        elif lake_day is not None:
            raise InvalidArgument(
                "lake_day is the Spark engine's daily run", [Violation("lake_day", "only with engine SPARK")]
            )
        info = await self._reconciler.start(
            mode, window_from, window_to, params, engine=engine, day=lake_day, lake=lake
        )
        return await self._launch(info, wait=wait, buckets=buckets)

    async def resume(self, run_id: int, *, wait: bool) -> RunInfo:
        """Finish an interrupted run where it stopped (a finished run is returned as it is)."""
        info = await self.get(run_id)
        if info.status is Status.DONE:
            return info
        if self._reconciler.is_active(run_id):
            raise FailedPrecondition(f"run {run_id} is still running here")
        return await self._launch(info, wait=wait)

    async def _launch(self, info: RunInfo, *, wait: bool, buckets: int = 0) -> RunInfo:
        # A Spark run goes to a child process: the service never hosts a JVM.
        work = run_detached(self._reconciler.engine, info.run_id, buckets) if info.engine is Engine.SPARK else None
        task = self._reconciler.launch(info.run_id, work)
        if wait:
            return await task
        return await self.get(info.run_id)

    async def get(self, run_id: int) -> RunInfo:
        info = await self._reconciler.get(run_id)
        if info is None:
            raise NotFound(f"no run {run_id}")
        return info

    async def list(self, limit: int, before_id: int | None) -> list[RunInfo]:
        return await self._reconciler.list(limit, before_id)


def _check_spark(mode: Mode, windowed: object, lake_day: date | None, lake: str | None) -> None:
    """The Spark engine does full runs over every code and daily runs over a lake day, and needs its
    dependencies on this machine (and, for a daily run, a lake)."""
    if windowed:
        raise InvalidArgument(
            "the Spark engine does not take a window", [Violation("engine", "SPARK goes with no window")]
        )
    if mode is Mode.INCREMENTAL and lake_day is None:
        raise InvalidArgument(
            "an incremental Spark run is the daily run over a lake day",
            [Violation("lake_day", "give the day (YYYY-MM-DD) with mode INCREMENTAL and engine SPARK")],
        )
    if mode is Mode.FULL and lake_day is not None:
        raise InvalidArgument("a full run judges every day", [Violation("lake_day", "only with mode INCREMENTAL")])
    missing = spark.requirements().missing()
    if missing:
        raise FailedPrecondition("the Spark engine needs " + "; ".join(missing))
    if lake_day is not None and lake is None:
        raise FailedPrecondition(f"this server has no lake to read: set {LAKE_ENV} to the lake's directory or URL")
