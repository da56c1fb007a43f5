import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventHeader(_message.Message):
    __slots__ = ("event_id", "party_id", "occurred_at", "document_no")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NO_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    party_id: str
    occurred_at: _timestamp_pb2.Timestamp
    document_no: str
    def __init__(self, event_id: _Optional[str] = ..., party_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., document_no: _Optional[str] = ...) -> None: ...

class TraceItem(_message.Message):
    __slots__ = ("code", "batch", "expiry", "source_document")
    CODE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    code: str
    batch: str
    expiry: str
    source_document: str
    def __init__(self, code: _Optional[str] = ..., batch: _Optional[str] = ..., expiry: _Optional[str] = ..., source_document: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("header", "supplier_id", "items")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    supplier_id: str
    items: _containers.RepeatedCompositeFieldContainer[TraceItem]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., supplier_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TraceItem, _Mapping]]] = ...) -> None: ...

class Shipment(_message.Message):
    __slots__ = ("header", "receiver_id", "items")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    receiver_id: str
    items: _containers.RepeatedCompositeFieldContainer[TraceItem]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., receiver_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TraceItem, _Mapping]]] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("header", "to_party_id", "items")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TO_PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    to_party_id: str
    items: _containers.RepeatedCompositeFieldContainer[TraceItem]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., to_party_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TraceItem, _Mapping]]] = ...) -> None: ...

class PurchaseReturn(_message.Message):
    __slots__ = ("header", "supplier_id", "items")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    supplier_id: str
    items: _containers.RepeatedCompositeFieldContainer[TraceItem]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., supplier_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TraceItem, _Mapping]]] = ...) -> None: ...

class OpeningStock(_message.Message):
    __slots__ = ("header", "items")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    items: _containers.RepeatedCompositeFieldContainer[TraceItem]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., items: _Optional[_Iterable[_Union[TraceItem, _Mapping]]] = ...) -> None: ...

class ScannedCode(_message.Message):
    __slots__ = ("code", "units")
    CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    code: str
    units: int
    def __init__(self, code: _Optional[str] = ..., units: _Optional[int] = ...) -> None: ...

class SaleLine(_message.Message):
    __slots__ = ("insurance_code", "item_name", "split", "quantity", "amount_fen", "fund_paid_fen", "scanned")
    INSURANCE_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEM_NAME_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAID_FEN_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    insurance_code: str
    item_name: str
    split: bool
    quantity: int
    amount_fen: int
    fund_paid_fen: int
    scanned: _containers.RepeatedCompositeFieldContainer[ScannedCode]
    def __init__(self, insurance_code: _Optional[str] = ..., item_name: _Optional[str] = ..., split: _Optional[bool] = ..., quantity: _Optional[int] = ..., amount_fen: _Optional[int] = ..., fund_paid_fen: _Optional[int] = ..., scanned: _Optional[_Iterable[_Union[ScannedCode, _Mapping]]] = ...) -> None: ...

class Sale(_message.Message):
    __slots__ = ("header", "sale_id", "buyer_id", "buyer_token", "lines")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    sale_id: str
    buyer_id: str
    buyer_token: str
    lines: _containers.RepeatedCompositeFieldContainer[SaleLine]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., sale_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., buyer_token: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[SaleLine, _Mapping]]] = ...) -> None: ...

class ReturnedCode(_message.Message):
    __slots__ = ("code", "units")
    CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    code: str
    units: int
    def __init__(self, code: _Optional[str] = ..., units: _Optional[int] = ...) -> None: ...

class SaleReturn(_message.Message):
    __slots__ = ("header", "sale_id", "codes")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    header: EventHeader
    sale_id: str
    codes: _containers.RepeatedCompositeFieldContainer[ReturnedCode]
    def __init__(self, header: _Optional[_Union[EventHeader, _Mapping]] = ..., sale_id: _Optional[str] = ..., codes: _Optional[_Iterable[_Union[ReturnedCode, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("receipt", "shipment", "transfer", "purchase_return", "opening_stock", "sale", "sale_return")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_RETURN_FIELD_NUMBER: _ClassVar[int]
    OPENING_STOCK_FIELD_NUMBER: _ClassVar[int]
    SALE_FIELD_NUMBER: _ClassVar[int]
    SALE_RETURN_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    shipment: Shipment
    transfer: Transfer
    purchase_return: PurchaseReturn
    opening_stock: OpeningStock
    sale: Sale
    sale_return: SaleReturn
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., shipment: _Optional[_Union[Shipment, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., purchase_return: _Optional[_Union[PurchaseReturn, _Mapping]] = ..., opening_stock: _Optional[_Union[OpeningStock, _Mapping]] = ..., sale: _Optional[_Union[Sale, _Mapping]] = ..., sale_return: _Optional[_Union[SaleReturn, _Mapping]] = ...) -> None: ...
