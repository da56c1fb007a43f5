import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tracesvc.v1 import ack_pb2 as _ack_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTY_KIND_UNSPECIFIED: _ClassVar[PartyKind]
    PARTY_KIND_MANUFACTURER: _ClassVar[PartyKind]
    PARTY_KIND_WHOLESALER: _ClassVar[PartyKind]
    PARTY_KIND_PHARMACY: _ClassVar[PartyKind]
    PARTY_KIND_CHAIN_HQ: _ClassVar[PartyKind]
    PARTY_KIND_HOSPITAL: _ClassVar[PartyKind]

class LicenceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENCE_STATUS_UNSPECIFIED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_ACTIVE: _ClassVar[LicenceStatus]
    LICENCE_STATUS_SUSPENDED: _ClassVar[LicenceStatus]
    LICENCE_STATUS_REVOKED: _ClassVar[LicenceStatus]

class ProductCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_CATEGORY_UNSPECIFIED: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_DRUG: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_HEALTH_FOOD: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_FOOD: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_COSMETIC: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_DAILY_GOODS: _ClassVar[ProductCategory]
    PRODUCT_CATEGORY_DEVICE: _ClassVar[ProductCategory]

class CodeScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODE_SCHEME_UNSPECIFIED: _ClassVar[CodeScheme]
    CODE_SCHEME_MSFX: _ClassVar[CodeScheme]
    CODE_SCHEME_GS1: _ClassVar[CodeScheme]
    CODE_SCHEME_MANUFACTURER: _ClassVar[CodeScheme]
PARTY_KIND_UNSPECIFIED: PartyKind
PARTY_KIND_MANUFACTURER: PartyKind
PARTY_KIND_WHOLESALER: PartyKind
PARTY_KIND_PHARMACY: PartyKind
PARTY_KIND_CHAIN_HQ: PartyKind
PARTY_KIND_HOSPITAL: PartyKind
LICENCE_STATUS_UNSPECIFIED: LicenceStatus
LICENCE_STATUS_ACTIVE: LicenceStatus
LICENCE_STATUS_SUSPENDED: LicenceStatus
LICENCE_STATUS_REVOKED: LicenceStatus
PRODUCT_CATEGORY_UNSPECIFIED: ProductCategory
PRODUCT_CATEGORY_DRUG: ProductCategory
PRODUCT_CATEGORY_HEALTH_FOOD: ProductCategory
PRODUCT_CATEGORY_FOOD: ProductCategory
PRODUCT_CATEGORY_COSMETIC: ProductCategory
PRODUCT_CATEGORY_DAILY_GOODS: ProductCategory
PRODUCT_CATEGORY_DEVICE: ProductCategory
CODE_SCHEME_UNSPECIFIED: CodeScheme
CODE_SCHEME_MSFX: CodeScheme
CODE_SCHEME_GS1: CodeScheme
CODE_SCHEME_MANUFACTURER: CodeScheme

class LicenceStatusChange(_message.Message):
    __slots__ = ("status", "effective_from")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    status: LicenceStatus
    effective_from: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[LicenceStatus, str]] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Licence(_message.Message):
    __slots__ = ("number", "scope", "valid_from", "valid_to", "status_history")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_FIELD_NUMBER: _ClassVar[int]
    STATUS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    number: str
    scope: str
    valid_from: _timestamp_pb2.Timestamp
    valid_to: _timestamp_pb2.Timestamp
    status_history: _containers.RepeatedCompositeFieldContainer[LicenceStatusChange]
    def __init__(self, number: _Optional[str] = ..., scope: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_history: _Optional[_Iterable[_Union[LicenceStatusChange, _Mapping]]] = ...) -> None: ...

class Party(_message.Message):
    __slots__ = ("party_id", "kind", "name", "region", "chain_id", "licences", "reports_events", "glns")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    LICENCES_FIELD_NUMBER: _ClassVar[int]
    REPORTS_EVENTS_FIELD_NUMBER: _ClassVar[int]
    GLNS_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    kind: PartyKind
    name: str
    region: str
    chain_id: str
    licences: _containers.RepeatedCompositeFieldContainer[Licence]
    reports_events: bool
    glns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, party_id: _Optional[str] = ..., kind: _Optional[_Union[PartyKind, str]] = ..., name: _Optional[str] = ..., region: _Optional[str] = ..., chain_id: _Optional[str] = ..., licences: _Optional[_Iterable[_Union[Licence, _Mapping]]] = ..., reports_events: _Optional[bool] = ..., glns: _Optional[_Iterable[str]] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("prefix", "scheme", "manufacturer_id", "name", "generic_name", "spec", "pack_units", "category", "insurance_code", "daily_units")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERIC_NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PACK_UNITS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INSURANCE_CODE_FIELD_NUMBER: _ClassVar[int]
    DAILY_UNITS_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    scheme: CodeScheme
    manufacturer_id: str
    name: str
    generic_name: str
    spec: str
    pack_units: int
    category: ProductCategory
    insurance_code: str
    daily_units: int
    def __init__(self, prefix: _Optional[str] = ..., scheme: _Optional[_Union[CodeScheme, str]] = ..., manufacturer_id: _Optional[str] = ..., name: _Optional[str] = ..., generic_name: _Optional[str] = ..., spec: _Optional[str] = ..., pack_units: _Optional[int] = ..., category: _Optional[_Union[ProductCategory, str]] = ..., insurance_code: _Optional[str] = ..., daily_units: _Optional[int] = ...) -> None: ...

class UpsertPartiesRequest(_message.Message):
    __slots__ = ("parties",)
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    parties: _containers.RepeatedCompositeFieldContainer[Party]
    def __init__(self, parties: _Optional[_Iterable[_Union[Party, _Mapping]]] = ...) -> None: ...

class UpsertPartiesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_ack_pb2.ItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[_ack_pb2.ItemResult, _Mapping]]] = ...) -> None: ...

class UpsertProductsRequest(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ...) -> None: ...

class UpsertProductsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_ack_pb2.ItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[_ack_pb2.ItemResult, _Mapping]]] = ...) -> None: ...

class GetPartyRequest(_message.Message):
    __slots__ = ("party_id",)
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    def __init__(self, party_id: _Optional[str] = ...) -> None: ...

class GetPartyResponse(_message.Message):
    __slots__ = ("party",)
    PARTY_FIELD_NUMBER: _ClassVar[int]
    party: Party
    def __init__(self, party: _Optional[_Union[Party, _Mapping]] = ...) -> None: ...

class GetProductRequest(_message.Message):
    __slots__ = ("prefix", "code")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    code: str
    def __init__(self, prefix: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class GetProductResponse(_message.Message):
    __slots__ = ("product", "canonical_code")
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_CODE_FIELD_NUMBER: _ClassVar[int]
    product: Product
    canonical_code: str
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ..., canonical_code: _Optional[str] = ...) -> None: ...

class RegistryRecord(_message.Message):
    __slots__ = ("party", "product")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    party: Party
    product: Product
    def __init__(self, party: _Optional[_Union[Party, _Mapping]] = ..., product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class UpsertCommissionedCodesRequest(_message.Message):
    __slots__ = ("prefix", "codes")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, prefix: _Optional[str] = ..., codes: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertCommissionedCodesResponse(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: int
    def __init__(self, added: _Optional[int] = ...) -> None: ...
