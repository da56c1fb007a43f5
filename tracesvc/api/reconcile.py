"""ReconcileService: start, resume and watch reconciliation runs."""

from __future__ import annotations

import grpc

from reconciler import spark
from reconciler.jobs import Engine, Mode, Reconciler, RunInfo, Status
from reconciler.spark.launch import run_detached
from tracesvc.api import paging
from tracesvc.api.convert import to_datetime, to_timestamp
from tracesvc.api.errors import abort
from tracesvc.domain.events import Violation
from tracesvc.v1 import reconcile_pb2 as pb
from tracesvc.v1 import reconcile_pb2_grpc

_MODE = {pb.RUN_MODE_FULL: Mode.FULL, pb.RUN_MODE_INCREMENTAL: Mode.INCREMENTAL}
_MODE_PB = {v: k for k, v in _MODE.items()}
_ENGINE = {pb.RUN_ENGINE_UNSPECIFIED: Engine.IN_PROCESS, pb.RUN_ENGINE_IN_PROCESS: Engine.IN_PROCESS,
           pb.RUN_ENGINE_SPARK: Engine.SPARK}
_ENGINE_PB = {Engine.IN_PROCESS: pb.RUN_ENGINE_IN_PROCESS, Engine.SPARK: pb.RUN_ENGINE_SPARK}
_STATUS_PB = {Status.RUNNING: pb.RUN_STATUS_RUNNING, Status.DONE: pb.RUN_STATUS_DONE,
              Status.FAILED: pb.RUN_STATUS_FAILED}


def run_to_proto(info: RunInfo) -> pb.Run:
    out = pb.Run(run_id=info.run_id, mode=_MODE_PB[info.mode], status=_STATUS_PB[info.status],
                 codes_total=info.codes_total, codes_done=info.codes_done, sales_done=info.sales_done,
                 flags_new=info.flags_new, flags_resolved=info.flags_resolved,
                 started_at=to_timestamp(info.started_at), seconds=info.seconds, error=info.error or "",
                 engine=_ENGINE_PB[info.engine])
    if info.finished_at:
        out.finished_at.CopyFrom(to_timestamp(info.finished_at))
    if info.window_from:
        out.window_from.CopyFrom(to_timestamp(info.window_from))
    if info.window_to:
        out.window_to.CopyFrom(to_timestamp(info.window_to))
    return out


class ReconcileServicer(reconcile_pb2_grpc.ReconcileServiceServicer):
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    async def RunReconciliation(self, request, context):
        if request.resume_run_id:
            info = await self._reconciler.get(request.resume_run_id)
            if info is None:
                await abort(context, grpc.StatusCode.NOT_FOUND, f"no run {request.resume_run_id}")
            if info.status is Status.DONE:
                return pb.RunReconciliationResponse(run=run_to_proto(info))
            if self._reconciler.is_active(info.run_id):
                await abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"run {info.run_id} is still running here")
        else:
            mode = _MODE.get(request.mode)
            if mode is None:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "mode is required",
                            [Violation("mode", "FULL or INCREMENTAL")])
            has_window = request.HasField("window_from") or request.HasField("window_to")
            if has_window and mode is Mode.INCREMENTAL:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a window applies to full runs only",
                            [Violation("window_from", "only with mode FULL")])
            wf = to_datetime(request.window_from) if request.HasField("window_from") else None
            wt = to_datetime(request.window_to) if request.HasField("window_to") else None
            if wf and wt and wf >= wt:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "empty window",
                            [Violation("window_to", "must be after window_from")])
            engine = _ENGINE.get(request.engine)
            if engine is None:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "unknown engine",
                            [Violation("engine", "IN_PROCESS or SPARK")])
            if engine is Engine.SPARK:
                await self._check_spark(context, mode, wf or wt)
            info = await self._reconciler.start(mode, wf, wt, engine=engine)
        work = run_detached(self._reconciler.engine, info.run_id, request.buckets) \
            if info.engine is Engine.SPARK else None
        task = self._reconciler.launch(info.run_id, work)
        if request.wait:
            info = await task
        else:
            info = await self._reconciler.get(info.run_id)
        return pb.RunReconciliationResponse(run=run_to_proto(info))

    @staticmethod
    async def _check_spark(context: grpc.aio.ServicerContext, mode: Mode, windowed: object) -> None:
        if mode is not Mode.FULL or windowed:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the Spark engine does full runs over every code",
                        [Violation("engine", "SPARK goes with mode FULL and no window")])
        missing = spark.requirements().missing()
        if missing:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, "the Spark engine needs " + "; ".join(missing))

    async def GetRun(self, request, context):
        info = await self._reconciler.get(request.run_id)
        if info is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no run {request.run_id}")
        return pb.GetRunResponse(run=run_to_proto(info))

    async def ListRuns(self, request, context):
        position = paging.decode("run", request.page_token)
        if position is None:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "bad page_token",
                        [Violation("page_token", "not a token this method gave")])
        size = paging.page_size(request.page_size)
        runs = await self._reconciler.list(size + 1, int(position) if position else None)
        token = paging.encode("run", runs[size - 1].run_id) if len(runs) > size else ""
        return pb.ListRunsResponse(runs=[run_to_proto(r) for r in runs[:size]], next_page_token=token)
