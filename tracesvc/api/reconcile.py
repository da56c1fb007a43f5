"""ReconcileService: start, resume and watch reconciliation runs."""

from __future__ import annotations

from datetime import date
from typing import Any

import grpc

from reconciler.jobs import Engine, Mode, RunInfo, Status
from tracesvc.client.wire import to_datetime, to_timestamp
from tracesvc.domain.events import Violation
from tracesvc.service import paging
from tracesvc.service.errors import InvalidArgument
from tracesvc.service.runs import RunControl
from tracesvc.v1 import reconcile_pb2 as pb
from tracesvc.v1 import reconcile_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

_MODE = {pb.RUN_MODE_FULL: Mode.FULL, pb.RUN_MODE_INCREMENTAL: Mode.INCREMENTAL}
_MODE_PB = {v: k for k, v in _MODE.items()}
_ENGINE = {
    pb.RUN_ENGINE_UNSPECIFIED: Engine.IN_PROCESS,
    pb.RUN_ENGINE_IN_PROCESS: Engine.IN_PROCESS,
    pb.RUN_ENGINE_SPARK: Engine.SPARK,
}
_ENGINE_PB = {Engine.IN_PROCESS: pb.RUN_ENGINE_IN_PROCESS, Engine.SPARK: pb.RUN_ENGINE_SPARK}
_STATUS_PB = {
    Status.RUNNING: pb.RUN_STATUS_RUNNING,
    Status.DONE: pb.RUN_STATUS_DONE,
    Status.FAILED: pb.RUN_STATUS_FAILED,
}


def run_to_proto(info: RunInfo) -> pb.Run:
    out = pb.Run(
        run_id=info.run_id,
        mode=_MODE_PB[info.mode],
        status=_STATUS_PB[info.status],
        codes_total=info.codes_total,
        codes_done=info.codes_done,
        sales_done=info.sales_done,
        flags_new=info.flags_new,
        flags_resolved=info.flags_resolved,
        started_at=to_timestamp(info.started_at),
        seconds=info.seconds,
        error=info.error or "",
        buyers_done=info.buyers_done,
        engine=_ENGINE_PB[info.engine],
        lake_day=str(info.rule_params.get("day", "")),
    )
    if info.finished_at:
        out.finished_at.CopyFrom(to_timestamp(info.finished_at))
    if info.window_from:
        out.window_from.CopyFrom(to_timestamp(info.window_from))
    if info.window_to:
        out.window_to.CopyFrom(to_timestamp(info.window_to))
    if info.buyer_params is not None:
        out.buyer_params.CopyFrom(pb.BuyerRuleParams(**info.buyer_params.to_json()))
    return out


def buyer_params_of(msg: pb.BuyerRuleParams) -> dict[str, int]:
    """A request's rule B parameters: only the fields it sets (0 keeps the server's value)."""
    return {f.name: value for f, value in msg.ListFields()}


def _engine(value: pb.RunEngine) -> Engine:
    engine = _ENGINE.get(value)
    if engine is None:
        raise InvalidArgument("unknown engine", [Violation("engine", "IN_PROCESS or SPARK")])
    return engine


def _lake_day(text: str) -> date | None:
    if not text:
        return None
    try:
        if len(text) == 10 and text.isascii():
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidArgument("bad lake_day", [Violation("lake_day", "a date YYYY-MM-DD")])


class ReconcileServicer(reconcile_pb2_grpc.ReconcileServiceServicer):
    def __init__(self, runs: RunControl) -> None:
        self._runs = runs

    async def RunReconciliation(
        self, request: pb.RunReconciliationRequest, context: Context
    ) -> pb.RunReconciliationResponse:
        if request.resume_run_id:
            info = await self._runs.resume(request.resume_run_id, wait=request.wait)
        else:
            info = await self._runs.start(
                _MODE.get(request.mode),
                to_datetime(request.window_from) if request.HasField("window_from") else None,
                to_datetime(request.window_to) if request.HasField("window_to") else None,
                wait=request.wait,
                buyer_params=buyer_params_of(request.buyer_params),
                engine=_engine(request.engine),
                buckets=request.buckets,
                lake_day=_lake_day(request.lake_day),
            )
        return pb.RunReconciliationResponse(run=run_to_proto(info))

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.GetRunResponse:
        return pb.GetRunResponse(run=run_to_proto(await self._runs.get(request.run_id)))

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        page = await paging.fetch_page(
            "run",
            request.page_token,
            request.page_size,
            lambda after, limit: self._runs.list(limit, int(after) if after else None),
            lambda run: run.run_id,
        )
        return pb.ListRunsResponse(runs=[run_to_proto(r) for r in page.items], next_page_token=page.next_token)
