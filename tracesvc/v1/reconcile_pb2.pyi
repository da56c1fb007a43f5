import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_MODE_UNSPECIFIED: _ClassVar[RunMode]
    RUN_MODE_FULL: _ClassVar[RunMode]
    RUN_MODE_INCREMENTAL: _ClassVar[RunMode]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_DONE: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]

class RunEngine(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_ENGINE_UNSPECIFIED: _ClassVar[RunEngine]
    RUN_ENGINE_IN_PROCESS: _ClassVar[RunEngine]
    RUN_ENGINE_SPARK: _ClassVar[RunEngine]
RUN_MODE_UNSPECIFIED: RunMode
RUN_MODE_FULL: RunMode
RUN_MODE_INCREMENTAL: RunMode
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_DONE: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_ENGINE_UNSPECIFIED: RunEngine
RUN_ENGINE_IN_PROCESS: RunEngine
RUN_ENGINE_SPARK: RunEngine

class Run(_message.Message):
    __slots__ = ("run_id", "mode", "status", "window_from", "window_to", "codes_total", "codes_done", "sales_done", "flags_new", "flags_resolved", "started_at", "finished_at", "seconds", "error", "buyers_done", "buyer_params", "engine", "lake_day")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FROM_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TO_FIELD_NUMBER: _ClassVar[int]
    CODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CODES_DONE_FIELD_NUMBER: _ClassVar[int]
    SALES_DONE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_NEW_FIELD_NUMBER: _ClassVar[int]
    FLAGS_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BUYERS_DONE_FIELD_NUMBER: _ClassVar[int]
    BUYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    LAKE_DAY_FIELD_NUMBER: _ClassVar[int]
    run_id: int
    mode: RunMode
    status: RunStatus
    window_from: _timestamp_pb2.Timestamp
    window_to: _timestamp_pb2.Timestamp
    codes_total: int
    codes_done: int
    sales_done: int
    flags_new: int
    flags_resolved: int
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    seconds: float
    error: str
    buyers_done: int
    buyer_params: BuyerRuleParams
    engine: RunEngine
    lake_day: str
    def __init__(self, run_id: _Optional[int] = ..., mode: _Optional[_Union[RunMode, str]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., window_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., codes_total: _Optional[int] = ..., codes_done: _Optional[int] = ..., sales_done: _Optional[int] = ..., flags_new: _Optional[int] = ..., flags_resolved: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds: _Optional[float] = ..., error: _Optional[str] = ..., buyers_done: _Optional[int] = ..., buyer_params: _Optional[_Union[BuyerRuleParams, _Mapping]] = ..., engine: _Optional[_Union[RunEngine, str]] = ..., lake_day: _Optional[str] = ...) -> None: ...

class BuyerRuleParams(_message.Message):
    __slots__ = ("supply_window_days", "supply_allowance_days", "multi_window_days", "multi_pharmacies", "travel_minutes")
    SUPPLY_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_ALLOWANCE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MULTI_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    MULTI_PHARMACIES_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_MINUTES_FIELD_NUMBER: _ClassVar[int]
    supply_window_days: int
    supply_allowance_days: int
    multi_window_days: int
    multi_pharmacies: int
    travel_minutes: int
    def __init__(self, supply_window_days: _Optional[int] = ..., supply_allowance_days: _Optional[int] = ..., multi_window_days: _Optional[int] = ..., multi_pharmacies: _Optional[int] = ..., travel_minutes: _Optional[int] = ...) -> None: ...

class RunReconciliationRequest(_message.Message):
    __slots__ = ("mode", "window_from", "window_to", "resume_run_id", "wait", "buyer_params", "engine", "buckets", "lake_day")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FROM_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TO_FIELD_NUMBER: _ClassVar[int]
    RESUME_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    BUYER_PARAMS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    LAKE_DAY_FIELD_NUMBER: _ClassVar[int]
    mode: RunMode
    window_from: _timestamp_pb2.Timestamp
    window_to: _timestamp_pb2.Timestamp
    resume_run_id: int
    wait: bool
    buyer_params: BuyerRuleParams
    engine: RunEngine
    buckets: int
    lake_day: str
    def __init__(self, mode: _Optional[_Union[RunMode, str]] = ..., window_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resume_run_id: _Optional[int] = ..., wait: _Optional[bool] = ..., buyer_params: _Optional[_Union[BuyerRuleParams, _Mapping]] = ..., engine: _Optional[_Union[RunEngine, str]] = ..., buckets: _Optional[int] = ..., lake_day: _Optional[str] = ...) -> None: ...

class RunReconciliationResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: int
    def __init__(self, run_id: _Optional[int] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
