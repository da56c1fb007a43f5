import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_SELLABLE: _ClassVar[Verdict]
    VERDICT_ALREADY_SOLD: _ClassVar[Verdict]
    VERDICT_NOT_IN_STOCK_HERE: _ClassVar[Verdict]
    VERDICT_PRODUCT_MISMATCH: _ClassVar[Verdict]
    VERDICT_NOT_A_TRACE_CODE: _ClassVar[Verdict]
    VERDICT_UNKNOWN_PRODUCT: _ClassVar[Verdict]
    VERDICT_INVALID: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
VERDICT_SELLABLE: Verdict
VERDICT_ALREADY_SOLD: Verdict
VERDICT_NOT_IN_STOCK_HERE: Verdict
VERDICT_PRODUCT_MISMATCH: Verdict
VERDICT_NOT_A_TRACE_CODE: Verdict
VERDICT_UNKNOWN_PRODUCT: Verdict
VERDICT_INVALID: Verdict

class CodeToVerify(_message.Message):
    __slots__ = ("code", "units", "insurance_code")
    CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    INSURANCE_CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    units: int
    insurance_code: str
    def __init__(self, code: _Optional[str] = ..., units: _Optional[int] = ..., insurance_code: _Optional[str] = ...) -> None: ...

class CodeVerdict(_message.Message):
    __slots__ = ("code", "canonical_code", "verdict", "message", "product_name", "sold_at", "sold_region", "units_left")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_CODE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_NAME_FIELD_NUMBER: _ClassVar[int]
    SOLD_AT_FIELD_NUMBER: _ClassVar[int]
    SOLD_REGION_FIELD_NUMBER: _ClassVar[int]
    UNITS_LEFT_FIELD_NUMBER: _ClassVar[int]
    code: str
    canonical_code: str
    verdict: Verdict
    message: str
    product_name: str
    sold_at: _timestamp_pb2.Timestamp
    sold_region: str
    units_left: int
    def __init__(self, code: _Optional[str] = ..., canonical_code: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., message: _Optional[str] = ..., product_name: _Optional[str] = ..., sold_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sold_region: _Optional[str] = ..., units_left: _Optional[int] = ...) -> None: ...

class VerifyCodesRequest(_message.Message):
    __slots__ = ("party_id", "codes")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    codes: _containers.RepeatedCompositeFieldContainer[CodeToVerify]
    def __init__(self, party_id: _Optional[str] = ..., codes: _Optional[_Iterable[_Union[CodeToVerify, _Mapping]]] = ...) -> None: ...

class VerifyCodesResponse(_message.Message):
    __slots__ = ("verdicts",)
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[CodeVerdict]
    def __init__(self, verdicts: _Optional[_Iterable[_Union[CodeVerdict, _Mapping]]] = ...) -> None: ...
