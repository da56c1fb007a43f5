import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tracesvc.v1 import events_pb2 as _events_pb2
from tracesvc.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_LOW: _ClassVar[Severity]
    SEVERITY_MEDIUM: _ClassVar[Severity]
    SEVERITY_HIGH: _ClassVar[Severity]

class FlagStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_STATUS_UNSPECIFIED: _ClassVar[FlagStatus]
    FLAG_STATUS_OPEN: _ClassVar[FlagStatus]
    FLAG_STATUS_CONFIRMED: _ClassVar[FlagStatus]
    FLAG_STATUS_DISMISSED: _ClassVar[FlagStatus]
    FLAG_STATUS_RESOLVED: _ClassVar[FlagStatus]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_CONFIRM: _ClassVar[ReviewDecision]
    REVIEW_DECISION_DISMISS: _ClassVar[ReviewDecision]

class SuspectRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUSPECT_ROLE_UNSPECIFIED: _ClassVar[SuspectRole]
    SUSPECT_ROLE_BUYER: _ClassVar[SuspectRole]
    SUSPECT_ROLE_SUPPLIER: _ClassVar[SuspectRole]
    SUSPECT_ROLE_PHARMACY: _ClassVar[SuspectRole]

class CaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_STATUS_UNSPECIFIED: _ClassVar[CaseStatus]
    CASE_STATUS_OPEN: _ClassVar[CaseStatus]
    CASE_STATUS_INVESTIGATING: _ClassVar[CaseStatus]
    CASE_STATUS_ESCALATED: _ClassVar[CaseStatus]
    CASE_STATUS_CLOSED_CONFIRMED: _ClassVar[CaseStatus]
    CASE_STATUS_CLOSED_DISMISSED: _ClassVar[CaseStatus]

class CaseMemberKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_MEMBER_KIND_UNSPECIFIED: _ClassVar[CaseMemberKind]
    CASE_MEMBER_KIND_FLAG: _ClassVar[CaseMemberKind]
    CASE_MEMBER_KIND_CHAIN: _ClassVar[CaseMemberKind]
    CASE_MEMBER_KIND_CODE: _ClassVar[CaseMemberKind]
    CASE_MEMBER_KIND_BUYER: _ClassVar[CaseMemberKind]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_LOW: Severity
SEVERITY_MEDIUM: Severity
SEVERITY_HIGH: Severity
FLAG_STATUS_UNSPECIFIED: FlagStatus
FLAG_STATUS_OPEN: FlagStatus
FLAG_STATUS_CONFIRMED: FlagStatus
FLAG_STATUS_DISMISSED: FlagStatus
FLAG_STATUS_RESOLVED: FlagStatus
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_CONFIRM: ReviewDecision
REVIEW_DECISION_DISMISS: ReviewDecision
SUSPECT_ROLE_UNSPECIFIED: SuspectRole
SUSPECT_ROLE_BUYER: SuspectRole
SUSPECT_ROLE_SUPPLIER: SuspectRole
SUSPECT_ROLE_PHARMACY: SuspectRole
CASE_STATUS_UNSPECIFIED: CaseStatus
CASE_STATUS_OPEN: CaseStatus
CASE_STATUS_INVESTIGATING: CaseStatus
CASE_STATUS_ESCALATED: CaseStatus
CASE_STATUS_CLOSED_CONFIRMED: CaseStatus
CASE_STATUS_CLOSED_DISMISSED: CaseStatus
CASE_MEMBER_KIND_UNSPECIFIED: CaseMemberKind
CASE_MEMBER_KIND_FLAG: CaseMemberKind
CASE_MEMBER_KIND_CHAIN: CaseMemberKind
CASE_MEMBER_KIND_CODE: CaseMemberKind
CASE_MEMBER_KIND_BUYER: CaseMemberKind

class PartyRef(_message.Message):
    __slots__ = ("party_id", "name", "region", "kind")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    name: str
    region: str
    kind: str
    def __init__(self, party_id: _Optional[str] = ..., name: _Optional[str] = ..., region: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("event_id", "kind", "occurred_at", "received_at", "party", "counterparty", "units", "whole_pack", "document_no", "sale_id", "buyer_token")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    WHOLE_PACK_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NO_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: str
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    party: PartyRef
    counterparty: PartyRef
    units: int
    whole_pack: bool
    document_no: str
    sale_id: str
    buyer_token: str
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., party: _Optional[_Union[PartyRef, _Mapping]] = ..., counterparty: _Optional[_Union[PartyRef, _Mapping]] = ..., units: _Optional[int] = ..., whole_pack: _Optional[bool] = ..., document_no: _Optional[str] = ..., sale_id: _Optional[str] = ..., buyer_token: _Optional[str] = ...) -> None: ...

class GetCodeHistoryRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class GetCodeHistoryResponse(_message.Message):
    __slots__ = ("canonical_code", "product", "entries")
    CANONICAL_CODE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    canonical_code: str
    product: _registry_pb2.Product
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, canonical_code: _Optional[str] = ..., product: _Optional[_Union[_registry_pb2.Product, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class ExportEvidenceRequest(_message.Message):
    __slots__ = ("flag_id", "party_id")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    party_id: str
    def __init__(self, flag_id: _Optional[str] = ..., party_id: _Optional[str] = ...) -> None: ...

class PartyStanding(_message.Message):
    __slots__ = ("party_id", "at", "event_id", "licensed", "licence_status")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LICENSED_FIELD_NUMBER: _ClassVar[int]
    LICENCE_STATUS_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    at: _timestamp_pb2.Timestamp
    event_id: str
    licensed: bool
    licence_status: str
    def __init__(self, party_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[str] = ..., licensed: _Optional[bool] = ..., licence_status: _Optional[str] = ...) -> None: ...

class ExportEvidenceResponse(_message.Message):
    __slots__ = ("flag", "event", "party", "product", "chain", "standing", "history", "purchase", "travel")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    STANDING_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    TRAVEL_FIELD_NUMBER: _ClassVar[int]
    flag: Flag
    event: _events_pb2.Event
    party: _registry_pb2.Party
    product: _registry_pb2.Product
    chain: ReturnChain
    standing: PartyStanding
    history: HistoryEntry
    purchase: BuyerPurchase
    travel: CardTravel
    def __init__(self, flag: _Optional[_Union[Flag, _Mapping]] = ..., event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., party: _Optional[_Union[_registry_pb2.Party, _Mapping]] = ..., product: _Optional[_Union[_registry_pb2.Product, _Mapping]] = ..., chain: _Optional[_Union[ReturnChain, _Mapping]] = ..., standing: _Optional[_Union[PartyStanding, _Mapping]] = ..., history: _Optional[_Union[HistoryEntry, _Mapping]] = ..., purchase: _Optional[_Union[BuyerPurchase, _Mapping]] = ..., travel: _Optional[_Union[CardTravel, _Mapping]] = ...) -> None: ...

class PurchaseLine(_message.Message):
    __slots__ = ("insurance_code", "item_name", "split", "quantity", "amount_fen", "fund_paid_fen")
    INSURANCE_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEM_NAME_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAID_FEN_FIELD_NUMBER: _ClassVar[int]
    insurance_code: str
    item_name: str
    split: bool
    quantity: int
    amount_fen: int
    fund_paid_fen: int
    def __init__(self, insurance_code: _Optional[str] = ..., item_name: _Optional[str] = ..., split: _Optional[bool] = ..., quantity: _Optional[int] = ..., amount_fen: _Optional[int] = ..., fund_paid_fen: _Optional[int] = ...) -> None: ...

class BuyerPurchase(_message.Message):
    __slots__ = ("flag_id", "buyer_token", "event_id", "sale_id", "occurred_at", "party", "lines", "amount_fen", "fund_paid_fen", "refunded", "evidence", "decisive")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SALE_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAID_FEN_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    DECISIVE_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    buyer_token: str
    event_id: str
    sale_id: str
    occurred_at: _timestamp_pb2.Timestamp
    party: PartyRef
    lines: _containers.RepeatedCompositeFieldContainer[PurchaseLine]
    amount_fen: int
    fund_paid_fen: int
    refunded: bool
    evidence: bool
    decisive: bool
    def __init__(self, flag_id: _Optional[str] = ..., buyer_token: _Optional[str] = ..., event_id: _Optional[str] = ..., sale_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., party: _Optional[_Union[PartyRef, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[PurchaseLine, _Mapping]]] = ..., amount_fen: _Optional[int] = ..., fund_paid_fen: _Optional[int] = ..., refunded: _Optional[bool] = ..., evidence: _Optional[bool] = ..., decisive: _Optional[bool] = ...) -> None: ...

class CardTravel(_message.Message):
    __slots__ = ("flag_id", "buyer_token", "earlier_event_id", "earlier_at", "earlier_party", "later_event_id", "later_at", "later_party", "seconds_between")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EARLIER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EARLIER_AT_FIELD_NUMBER: _ClassVar[int]
    EARLIER_PARTY_FIELD_NUMBER: _ClassVar[int]
    LATER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LATER_AT_FIELD_NUMBER: _ClassVar[int]
    LATER_PARTY_FIELD_NUMBER: _ClassVar[int]
    SECONDS_BETWEEN_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    buyer_token: str
    earlier_event_id: str
    earlier_at: _timestamp_pb2.Timestamp
    earlier_party: PartyRef
    later_event_id: str
    later_at: _timestamp_pb2.Timestamp
    later_party: PartyRef
    seconds_between: int
    def __init__(self, flag_id: _Optional[str] = ..., buyer_token: _Optional[str] = ..., earlier_event_id: _Optional[str] = ..., earlier_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., earlier_party: _Optional[_Union[PartyRef, _Mapping]] = ..., later_event_id: _Optional[str] = ..., later_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., later_party: _Optional[_Union[PartyRef, _Mapping]] = ..., seconds_between: _Optional[int] = ...) -> None: ...

class Flag(_message.Message):
    __slots__ = ("flag_id", "rule", "kind", "severity", "code", "decisive_event_id", "decisive_at", "subject_party", "subject_region", "related_parties", "evidence_event_ids", "money_fen", "detail", "status", "detected_at", "detected_run", "resolved_at", "resolved_reason", "reviewed_by", "reviewed_at", "review_note", "case_id", "buyer_token", "summary", "origin")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DECISIVE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIVE_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PARTY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REGION_FIELD_NUMBER: _ClassVar[int]
    RELATED_PARTIES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_RUN_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_NOTE_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    rule: str
    kind: str
    severity: Severity
    code: str
    decisive_event_id: str
    decisive_at: _timestamp_pb2.Timestamp
    subject_party: str
    subject_region: str
    related_parties: _containers.RepeatedScalarFieldContainer[str]
    evidence_event_ids: _containers.RepeatedScalarFieldContainer[str]
    money_fen: int
    detail: str
    status: FlagStatus
    detected_at: _timestamp_pb2.Timestamp
    detected_run: int
    resolved_at: _timestamp_pb2.Timestamp
    resolved_reason: str
    reviewed_by: str
    reviewed_at: _timestamp_pb2.Timestamp
    review_note: str
    case_id: str
    buyer_token: str
    summary: str
    origin: str
    def __init__(self, flag_id: _Optional[str] = ..., rule: _Optional[str] = ..., kind: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., code: _Optional[str] = ..., decisive_event_id: _Optional[str] = ..., decisive_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject_party: _Optional[str] = ..., subject_region: _Optional[str] = ..., related_parties: _Optional[_Iterable[str]] = ..., evidence_event_ids: _Optional[_Iterable[str]] = ..., money_fen: _Optional[int] = ..., detail: _Optional[str] = ..., status: _Optional[_Union[FlagStatus, str]] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detected_run: _Optional[int] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_reason: _Optional[str] = ..., reviewed_by: _Optional[str] = ..., reviewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_note: _Optional[str] = ..., case_id: _Optional[str] = ..., buyer_token: _Optional[str] = ..., summary: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class ListFlagsRequest(_message.Message):
    __slots__ = ("rule", "kind", "party_id", "region", "occurred_from", "occurred_to", "statuses", "code", "page_size", "page_token", "buyer_token", "case_id")
    RULE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_FROM_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_TO_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    rule: str
    kind: str
    party_id: str
    region: str
    occurred_from: _timestamp_pb2.Timestamp
    occurred_to: _timestamp_pb2.Timestamp
    statuses: _containers.RepeatedScalarFieldContainer[FlagStatus]
    code: str
    page_size: int
    page_token: str
    buyer_token: str
    case_id: str
    def __init__(self, rule: _Optional[str] = ..., kind: _Optional[str] = ..., party_id: _Optional[str] = ..., region: _Optional[str] = ..., occurred_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurred_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[FlagStatus, str]]] = ..., code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., buyer_token: _Optional[str] = ..., case_id: _Optional[str] = ...) -> None: ...

class ListFlagsResponse(_message.Message):
    __slots__ = ("flags", "next_page_token")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    flags: _containers.RepeatedCompositeFieldContainer[Flag]
    next_page_token: str
    def __init__(self, flags: _Optional[_Iterable[_Union[Flag, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetFlagRequest(_message.Message):
    __slots__ = ("flag_id",)
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    def __init__(self, flag_id: _Optional[str] = ...) -> None: ...

class GetFlagResponse(_message.Message):
    __slots__ = ("flag",)
    FLAG_FIELD_NUMBER: _ClassVar[int]
    flag: Flag
    def __init__(self, flag: _Optional[_Union[Flag, _Mapping]] = ...) -> None: ...

class ReviewFlagRequest(_message.Message):
    __slots__ = ("flag_id", "decision", "note")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    decision: ReviewDecision
    note: str
    def __init__(self, flag_id: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., note: _Optional[str] = ...) -> None: ...

class ReviewFlagResponse(_message.Message):
    __slots__ = ("flag",)
    FLAG_FIELD_NUMBER: _ClassVar[int]
    flag: Flag
    def __init__(self, flag: _Optional[_Union[Flag, _Mapping]] = ...) -> None: ...

class ChainSale(_message.Message):
    __slots__ = ("event_id", "party_id", "occurred_at", "buyer_token", "fund_paid_fen", "units")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAID_FEN_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    party_id: str
    occurred_at: _timestamp_pb2.Timestamp
    buyer_token: str
    fund_paid_fen: int
    units: int
    def __init__(self, event_id: _Optional[str] = ..., party_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., buyer_token: _Optional[str] = ..., fund_paid_fen: _Optional[int] = ..., units: _Optional[int] = ...) -> None: ...

class ChainEntry(_message.Message):
    __slots__ = ("event_id", "kind", "party_id", "supplier_id", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: str
    party_id: str
    supplier_id: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[str] = ..., party_id: _Optional[str] = ..., supplier_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReturnChain(_message.Message):
    __slots__ = ("flag_id", "code", "active", "originals", "reentry", "resales", "money_fen")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ORIGINALS_FIELD_NUMBER: _ClassVar[int]
    REENTRY_FIELD_NUMBER: _ClassVar[int]
    RESALES_FIELD_NUMBER: _ClassVar[int]
    MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    code: str
    active: bool
    originals: _containers.RepeatedCompositeFieldContainer[ChainSale]
    reentry: ChainEntry
    resales: _containers.RepeatedCompositeFieldContainer[ChainSale]
    money_fen: int
    def __init__(self, flag_id: _Optional[str] = ..., code: _Optional[str] = ..., active: _Optional[bool] = ..., originals: _Optional[_Iterable[_Union[ChainSale, _Mapping]]] = ..., reentry: _Optional[_Union[ChainEntry, _Mapping]] = ..., resales: _Optional[_Iterable[_Union[ChainSale, _Mapping]]] = ..., money_fen: _Optional[int] = ...) -> None: ...

class ListReturnChainsRequest(_message.Message):
    __slots__ = ("code", "party_id", "buyer_token", "buyer_id", "include_inactive", "page_size", "page_token")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    code: str
    party_id: str
    buyer_token: str
    buyer_id: str
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, code: _Optional[str] = ..., party_id: _Optional[str] = ..., buyer_token: _Optional[str] = ..., buyer_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReturnChainsResponse(_message.Message):
    __slots__ = ("chains", "next_page_token")
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chains: _containers.RepeatedCompositeFieldContainer[ReturnChain]
    next_page_token: str
    def __init__(self, chains: _Optional[_Iterable[_Union[ReturnChain, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RankSuspectsRequest(_message.Message):
    __slots__ = ("role", "limit")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    role: SuspectRole
    limit: int
    def __init__(self, role: _Optional[_Union[SuspectRole, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class Suspect(_message.Message):
    __slots__ = ("id", "chains", "codes", "money_fen", "b_flags", "b_money_fen", "score", "reason")
    class BFlagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    B_FLAGS_FIELD_NUMBER: _ClassVar[int]
    B_MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    chains: int
    codes: int
    money_fen: int
    b_flags: _containers.ScalarMap[str, int]
    b_money_fen: int
    score: int
    reason: str
    def __init__(self, id: _Optional[str] = ..., chains: _Optional[int] = ..., codes: _Optional[int] = ..., money_fen: _Optional[int] = ..., b_flags: _Optional[_Mapping[str, int]] = ..., b_money_fen: _Optional[int] = ..., score: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RankSuspectsResponse(_message.Message):
    __slots__ = ("suspects",)
    SUSPECTS_FIELD_NUMBER: _ClassVar[int]
    suspects: _containers.RepeatedCompositeFieldContainer[Suspect]
    def __init__(self, suspects: _Optional[_Iterable[_Union[Suspect, _Mapping]]] = ...) -> None: ...

class CaseMemberRef(_message.Message):
    __slots__ = ("kind", "ref")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    kind: CaseMemberKind
    ref: str
    def __init__(self, kind: _Optional[_Union[CaseMemberKind, str]] = ..., ref: _Optional[str] = ...) -> None: ...

class CaseMember(_message.Message):
    __slots__ = ("kind", "ref", "added_by", "added_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    kind: CaseMemberKind
    ref: str
    added_by: str
    added_at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[CaseMemberKind, str]] = ..., ref: _Optional[str] = ..., added_by: _Optional[str] = ..., added_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CaseLogEntry(_message.Message):
    __slots__ = ("seq", "at", "actor", "role", "action", "from_status", "to_status", "reason", "detail", "global_seq", "officer_name", "officer_cert")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    OFFICER_NAME_FIELD_NUMBER: _ClassVar[int]
    OFFICER_CERT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    actor: str
    role: str
    action: str
    from_status: CaseStatus
    to_status: CaseStatus
    reason: str
    detail: str
    global_seq: int
    officer_name: str
    officer_cert: str
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., role: _Optional[str] = ..., action: _Optional[str] = ..., from_status: _Optional[_Union[CaseStatus, str]] = ..., to_status: _Optional[_Union[CaseStatus, str]] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., global_seq: _Optional[int] = ..., officer_name: _Optional[str] = ..., officer_cert: _Optional[str] = ...) -> None: ...

class CaseParty(_message.Message):
    __slots__ = ("party_id", "name", "role", "role_text", "reason")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    name: str
    role: str
    role_text: str
    reason: str
    def __init__(self, party_id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., role_text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CaseAttachment(_message.Message):
    __slots__ = ("attachment_id", "kind", "file_name", "media_type", "description", "sha256", "size", "added_by", "added_at")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    kind: str
    file_name: str
    media_type: str
    description: str
    sha256: str
    size: int
    added_by: str
    added_at: _timestamp_pb2.Timestamp
    def __init__(self, attachment_id: _Optional[str] = ..., kind: _Optional[str] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., description: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., added_by: _Optional[str] = ..., added_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("case_id", "title", "subject_parties", "region", "assignee", "status", "created_by", "created_at", "updated_at", "flag_count", "money_fen", "members", "log", "deadline", "overdue", "attachments", "parties")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PARTIES_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FLAG_COUNT_FIELD_NUMBER: _ClassVar[int]
    MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    title: str
    subject_parties: _containers.RepeatedScalarFieldContainer[str]
    region: str
    assignee: str
    status: CaseStatus
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    flag_count: int
    money_fen: int
    members: _containers.RepeatedCompositeFieldContainer[CaseMember]
    log: _containers.RepeatedCompositeFieldContainer[CaseLogEntry]
    deadline: _timestamp_pb2.Timestamp
    overdue: bool
    attachments: _containers.RepeatedCompositeFieldContainer[CaseAttachment]
    parties: _containers.RepeatedCompositeFieldContainer[CaseParty]
    def __init__(self, case_id: _Optional[str] = ..., title: _Optional[str] = ..., subject_parties: _Optional[_Iterable[str]] = ..., region: _Optional[str] = ..., assignee: _Optional[str] = ..., status: _Optional[_Union[CaseStatus, str]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., flag_count: _Optional[int] = ..., money_fen: _Optional[int] = ..., members: _Optional[_Iterable[_Union[CaseMember, _Mapping]]] = ..., log: _Optional[_Iterable[_Union[CaseLogEntry, _Mapping]]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue: _Optional[bool] = ..., attachments: _Optional[_Iterable[_Union[CaseAttachment, _Mapping]]] = ..., parties: _Optional[_Iterable[_Union[CaseParty, _Mapping]]] = ...) -> None: ...

class CreateCaseRequest(_message.Message):
    __slots__ = ("title", "subject_parties", "region", "assignee", "reason", "members")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PARTIES_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    title: str
    subject_parties: _containers.RepeatedScalarFieldContainer[str]
    region: str
    assignee: str
    reason: str
    members: _containers.RepeatedCompositeFieldContainer[CaseMemberRef]
    def __init__(self, title: _Optional[str] = ..., subject_parties: _Optional[_Iterable[str]] = ..., region: _Optional[str] = ..., assignee: _Optional[str] = ..., reason: _Optional[str] = ..., members: _Optional[_Iterable[_Union[CaseMemberRef, _Mapping]]] = ...) -> None: ...

class ChangeCaseMembersRequest(_message.Message):
    __slots__ = ("case_id", "members", "reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    members: _containers.RepeatedCompositeFieldContainer[CaseMemberRef]
    reason: str
    def __init__(self, case_id: _Optional[str] = ..., members: _Optional[_Iterable[_Union[CaseMemberRef, _Mapping]]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateCaseRequest(_message.Message):
    __slots__ = ("case_id", "status", "reason", "review_flags", "title", "assignee", "deadline", "clear_deadline", "note_only")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FLAGS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    NOTE_ONLY_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    status: CaseStatus
    reason: str
    review_flags: bool
    title: str
    assignee: str
    deadline: _timestamp_pb2.Timestamp
    clear_deadline: bool
    note_only: bool
    def __init__(self, case_id: _Optional[str] = ..., status: _Optional[_Union[CaseStatus, str]] = ..., reason: _Optional[str] = ..., review_flags: _Optional[bool] = ..., title: _Optional[str] = ..., assignee: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clear_deadline: _Optional[bool] = ..., note_only: _Optional[bool] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("case_id",)
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    def __init__(self, case_id: _Optional[str] = ...) -> None: ...

class CaseResponse(_message.Message):
    __slots__ = ("case", "flags")
    CASE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    case: Case
    flags: _containers.RepeatedCompositeFieldContainer[Flag]
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ..., flags: _Optional[_Iterable[_Union[Flag, _Mapping]]] = ...) -> None: ...

class ListCasesRequest(_message.Message):
    __slots__ = ("statuses", "party_id", "region", "assignee", "page_size", "page_token", "created_from", "created_to", "text", "overdue")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATED_TO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[CaseStatus]
    party_id: str
    region: str
    assignee: str
    page_size: int
    page_token: str
    created_from: _timestamp_pb2.Timestamp
    created_to: _timestamp_pb2.Timestamp
    text: str
    overdue: bool
    def __init__(self, statuses: _Optional[_Iterable[_Union[CaseStatus, str]]] = ..., party_id: _Optional[str] = ..., region: _Optional[str] = ..., assignee: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., created_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ..., overdue: _Optional[bool] = ...) -> None: ...

class ListCasesResponse(_message.Message):
    __slots__ = ("cases", "next_page_token")
    CASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[Case]
    next_page_token: str
    def __init__(self, cases: _Optional[_Iterable[_Union[Case, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReviewFlagsRequest(_message.Message):
    __slots__ = ("flag_ids", "filter", "decision", "note")
    FLAG_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    flag_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: ListFlagsRequest
    decision: ReviewDecision
    note: str
    def __init__(self, flag_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[_Union[ListFlagsRequest, _Mapping]] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., note: _Optional[str] = ...) -> None: ...

class ReviewFailure(_message.Message):
    __slots__ = ("flag_id", "reason")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    reason: str
    def __init__(self, flag_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReviewFlagsResponse(_message.Message):
    __slots__ = ("reviewed", "skipped")
    REVIEWED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    reviewed: _containers.RepeatedScalarFieldContainer[str]
    skipped: _containers.RepeatedCompositeFieldContainer[ReviewFailure]
    def __init__(self, reviewed: _Optional[_Iterable[str]] = ..., skipped: _Optional[_Iterable[_Union[ReviewFailure, _Mapping]]] = ...) -> None: ...

class SuggestCasesRequest(_message.Message):
    __slots__ = ("limit", "min_flags")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_FLAGS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    min_flags: int
    def __init__(self, limit: _Optional[int] = ..., min_flags: _Optional[int] = ...) -> None: ...

class SuggestionLink(_message.Message):
    __slots__ = ("flag_id", "rule", "kind", "code", "buyer_token", "supplier_id", "why")
    FLAG_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_ID_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    flag_id: str
    rule: str
    kind: str
    code: str
    buyer_token: str
    supplier_id: str
    why: str
    def __init__(self, flag_id: _Optional[str] = ..., rule: _Optional[str] = ..., kind: _Optional[str] = ..., code: _Optional[str] = ..., buyer_token: _Optional[str] = ..., supplier_id: _Optional[str] = ..., why: _Optional[str] = ...) -> None: ...

class SuggestedCase(_message.Message):
    __slots__ = ("basis", "key", "title", "flag_ids", "parties", "buyer_tokens", "codes", "money_fen", "chains", "proposal", "links", "rank_reason")
    BASIS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FLAG_IDS_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    BUYER_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    MONEY_FEN_FIELD_NUMBER: _ClassVar[int]
    CHAINS_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    RANK_REASON_FIELD_NUMBER: _ClassVar[int]
    basis: str
    key: str
    title: str
    flag_ids: _containers.RepeatedScalarFieldContainer[str]
    parties: _containers.RepeatedScalarFieldContainer[str]
    buyer_tokens: _containers.RepeatedScalarFieldContainer[str]
    codes: _containers.RepeatedScalarFieldContainer[str]
    money_fen: int
    chains: int
    proposal: CreateCaseRequest
    links: _containers.RepeatedCompositeFieldContainer[SuggestionLink]
    rank_reason: str
    def __init__(self, basis: _Optional[str] = ..., key: _Optional[str] = ..., title: _Optional[str] = ..., flag_ids: _Optional[_Iterable[str]] = ..., parties: _Optional[_Iterable[str]] = ..., buyer_tokens: _Optional[_Iterable[str]] = ..., codes: _Optional[_Iterable[str]] = ..., money_fen: _Optional[int] = ..., chains: _Optional[int] = ..., proposal: _Optional[_Union[CreateCaseRequest, _Mapping]] = ..., links: _Optional[_Iterable[_Union[SuggestionLink, _Mapping]]] = ..., rank_reason: _Optional[str] = ...) -> None: ...

class SuggestCasesResponse(_message.Message):
    __slots__ = ("suggestions",)
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[SuggestedCase]
    def __init__(self, suggestions: _Optional[_Iterable[_Union[SuggestedCase, _Mapping]]] = ...) -> None: ...

class ExportCaseRequest(_message.Message):
    __slots__ = ("case_id",)
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    def __init__(self, case_id: _Optional[str] = ...) -> None: ...

class ManifestEntry(_message.Message):
    __slots__ = ("kind", "id", "sha256")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    sha256: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class CaseFileManifest(_message.Message):
    __slots__ = ("case_id", "file_name", "file_bytes", "file_sha256", "generated_at", "generated_by", "entries")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    GENERATED_BY_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    file_name: str
    file_bytes: int
    file_sha256: str
    generated_at: _timestamp_pb2.Timestamp
    generated_by: str
    entries: _containers.RepeatedCompositeFieldContainer[ManifestEntry]
    def __init__(self, case_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_bytes: _Optional[int] = ..., file_sha256: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generated_by: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[ManifestEntry, _Mapping]]] = ...) -> None: ...

class ExportCaseResponse(_message.Message):
    __slots__ = ("chunk", "manifest")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    manifest: CaseFileManifest
    def __init__(self, chunk: _Optional[bytes] = ..., manifest: _Optional[_Union[CaseFileManifest, _Mapping]] = ...) -> None: ...

class AddCaseAttachmentRequest(_message.Message):
    __slots__ = ("case_id", "kind", "file_name", "media_type", "description", "content", "reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    kind: str
    file_name: str
    media_type: str
    description: str
    content: bytes
    reason: str
    def __init__(self, case_id: _Optional[str] = ..., kind: _Optional[str] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., description: _Optional[str] = ..., content: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class ListCaseReadsRequest(_message.Message):
    __slots__ = ("case_id",)
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    def __init__(self, case_id: _Optional[str] = ...) -> None: ...

class CaseRead(_message.Message):
    __slots__ = ("at", "key_id", "role", "method", "officer_name", "officer_cert")
    AT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OFFICER_NAME_FIELD_NUMBER: _ClassVar[int]
    OFFICER_CERT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    key_id: str
    role: str
    method: str
    officer_name: str
    officer_cert: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ..., role: _Optional[str] = ..., method: _Optional[str] = ..., officer_name: _Optional[str] = ..., officer_cert: _Optional[str] = ...) -> None: ...

class ListCaseReadsResponse(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[CaseRead]
    def __init__(self, reads: _Optional[_Iterable[_Union[CaseRead, _Mapping]]] = ...) -> None: ...

class BindOfficerRequest(_message.Message):
    __slots__ = ("key_id", "name", "cert_no", "title")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CERT_NO_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    cert_no: str
    title: str
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., cert_no: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class BindOfficerResponse(_message.Message):
    __slots__ = ("key_id", "name", "cert_no", "title")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CERT_NO_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    cert_no: str
    title: str
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., cert_no: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...
