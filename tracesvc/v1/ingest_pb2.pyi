from tracesvc.v1 import ack_pb2 as _ack_pb2
from tracesvc.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_FORMAT_UNSPECIFIED: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_NHSA: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_EPCIS: _ClassVar[DocumentFormat]
DOCUMENT_FORMAT_UNSPECIFIED: DocumentFormat
DOCUMENT_FORMAT_NHSA: DocumentFormat
DOCUMENT_FORMAT_EPCIS: DocumentFormat

class ImportDocumentRequest(_message.Message):
    __slots__ = ("format", "content", "infno", "party_id", "rollback")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    INFNO_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    format: DocumentFormat
    content: bytes
    infno: str
    party_id: str
    rollback: bool
    def __init__(self, format: _Optional[_Union[DocumentFormat, str]] = ..., content: _Optional[bytes] = ..., infno: _Optional[str] = ..., party_id: _Optional[str] = ..., rollback: _Optional[bool] = ...) -> None: ...

class DocumentResult(_message.Message):
    __slots__ = ("position", "rows", "event_id", "status", "message")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    position: str
    rows: _containers.RepeatedScalarFieldContainer[int]
    event_id: str
    status: str
    message: str
    def __init__(self, position: _Optional[str] = ..., rows: _Optional[_Iterable[int]] = ..., event_id: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ImportDocumentResponse(_message.Message):
    __slots__ = ("results", "counts")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DocumentResult]
    counts: _containers.ScalarMap[str, int]
    def __init__(self, results: _Optional[_Iterable[_Union[DocumentResult, _Mapping]]] = ..., counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RecordReceiptRequest(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[_events_pb2.Receipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[_events_pb2.Receipt, _Mapping]]] = ...) -> None: ...

class RecordReceiptResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordShipmentRequest(_message.Message):
    __slots__ = ("shipments",)
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    shipments: _containers.RepeatedCompositeFieldContainer[_events_pb2.Shipment]
    def __init__(self, shipments: _Optional[_Iterable[_Union[_events_pb2.Shipment, _Mapping]]] = ...) -> None: ...

class RecordShipmentResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordTransferRequest(_message.Message):
    __slots__ = ("transfers",)
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    transfers: _containers.RepeatedCompositeFieldContainer[_events_pb2.Transfer]
    def __init__(self, transfers: _Optional[_Iterable[_Union[_events_pb2.Transfer, _Mapping]]] = ...) -> None: ...

class RecordTransferResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordPurchaseReturnRequest(_message.Message):
    __slots__ = ("purchase_returns",)
    PURCHASE_RETURNS_FIELD_NUMBER: _ClassVar[int]
    purchase_returns: _containers.RepeatedCompositeFieldContainer[_events_pb2.PurchaseReturn]
    def __init__(self, purchase_returns: _Optional[_Iterable[_Union[_events_pb2.PurchaseReturn, _Mapping]]] = ...) -> None: ...

class RecordPurchaseReturnResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordOpeningStockRequest(_message.Message):
    __slots__ = ("opening_stocks",)
    OPENING_STOCKS_FIELD_NUMBER: _ClassVar[int]
    opening_stocks: _containers.RepeatedCompositeFieldContainer[_events_pb2.OpeningStock]
    def __init__(self, opening_stocks: _Optional[_Iterable[_Union[_events_pb2.OpeningStock, _Mapping]]] = ...) -> None: ...

class RecordOpeningStockResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordSaleRequest(_message.Message):
    __slots__ = ("sales",)
    SALES_FIELD_NUMBER: _ClassVar[int]
    sales: _containers.RepeatedCompositeFieldContainer[_events_pb2.Sale]
    def __init__(self, sales: _Optional[_Iterable[_Union[_events_pb2.Sale, _Mapping]]] = ...) -> None: ...

class RecordSaleResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class RecordSaleReturnRequest(_message.Message):
    __slots__ = ("sale_returns",)
    SALE_RETURNS_FIELD_NUMBER: _ClassVar[int]
    sale_returns: _containers.RepeatedCompositeFieldContainer[_events_pb2.SaleReturn]
    def __init__(self, sale_returns: _Optional[_Iterable[_Union[_events_pb2.SaleReturn, _Mapping]]] = ...) -> None: ...

class RecordSaleReturnResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[_ack_pb2.EventAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[_ack_pb2.EventAck, _Mapping]]] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: _ack_pb2.EventAck
    def __init__(self, ack: _Optional[_Union[_ack_pb2.EventAck, _Mapping]] = ...) -> None: ...
