"""Who may do what (DESIGN.md §8): roles, the method policy, and the scope of a caller.

Transport-free: the gRPC interceptor in `tracesvc.api.auth` authenticates a call (through
`tracesvc.service.authn`) and checks its method against `POLICY`; use cases check scope (which
party's events a POS or supplier may write, which party a POS may verify for) with the
`Principal` they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tracesvc.domain.events import EventKind

ChainOf = Callable[[str | None], str]  # a party's chain id ("" for none)


class Role(StrEnum):
    POS = "POS"
    SUPPLIER = "SUPPLIER"
    REGULATOR = "REGULATOR"
    INSPECTOR = "INSPECTOR"


READERS = frozenset({Role.REGULATOR, Role.INSPECTOR})
WRITERS = frozenset({Role.POS, Role.SUPPLIER, Role.REGULATOR})
EVERYONE = frozenset(Role)
SUPPLIER_KINDS = frozenset({EventKind.RECEIPT, EventKind.SHIPMENT})

_SERVICES = "/tracesvc.v1."
POLICY: dict[str, frozenset[Role]] = {
    f"{_SERVICES}RegistryService/UpsertParties": frozenset({Role.REGULATOR}),
    f"{_SERVICES}RegistryService/UpsertProducts": frozenset({Role.REGULATOR}),
    f"{_SERVICES}RegistryService/UpsertCommissionedCodes": frozenset({Role.REGULATOR}),
    f"{_SERVICES}RegistryService/GetParty": EVERYONE,
    f"{_SERVICES}RegistryService/GetProduct": EVERYONE,
    **{
        f"{_SERVICES}IngestService/{m}": WRITERS
        for m in (
            "RecordReceipt",
            "RecordShipment",
            "RecordTransfer",
            "RecordPurchaseReturn",
            "RecordOpeningStock",
            "RecordSale",
            "RecordSaleReturn",
            "StreamEvents",
            "ImportDocument",
        )
    },
    f"{_SERVICES}VerifyService/VerifyCodes": frozenset({Role.POS}) | READERS,
    f"{_SERVICES}ReconcileService/RunReconciliation": frozenset({Role.REGULATOR}),
    f"{_SERVICES}ReconcileService/GetRun": READERS,
    f"{_SERVICES}ReconcileService/ListRuns": READERS,
    f"{_SERVICES}EnforcementService/ReviewFlag": frozenset({Role.REGULATOR}),
    **{
        f"{_SERVICES}EnforcementService/{m}": READERS
        for m in ("GetCodeHistory", "ListFlags", "GetFlag", "ListReturnChains", "RankSuspects", "ExportEvidence")
    },
    # cases: inspectors and regulators open and work cases; a bulk review is a review (REGULATOR)
    **{
        f"{_SERVICES}EnforcementService/{m}": READERS
        for m in (
            "CreateCase",
            "AddToCase",
            "RemoveFromCase",
            "UpdateCase",
            "GetCase",
            "ListCases",
            "SuggestCases",
            "ExportCase",
        )
    },
    f"{_SERVICES}EnforcementService/ReviewFlags": frozenset({Role.REGULATOR}),
    f"{_SERVICES}EnforcementService/AddCaseAttachment": READERS,
    # who read a case: the regulator's oversight
    f"{_SERVICES}EnforcementService/ListCaseReads": frozenset({Role.REGULATOR}),
    f"{_SERVICES}EnforcementService/BindOfficer": frozenset({Role.REGULATOR}),
}
PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def allowed_roles(method: str) -> frozenset[Role]:
    """The roles that may call a method; a method nobody listed: nobody may call it."""
    return POLICY.get(method, frozenset())


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    party_id: str | None = None
    chain_wide: bool = False
    unrestricted: bool = False  # authentication switched off (development only)

    def may_act_for(self, party_id: str, chain_of: ChainOf) -> bool:
        """POS and SUPPLIER act for their own party (a chain-wide POS key for its whole chain)."""
        if self.unrestricted or self.role is Role.REGULATOR:
            return True
        if self.role is Role.INSPECTOR:
            return False
        if party_id == self.party_id:
            return True
        if self.role is Role.POS and self.chain_wide:
            own = chain_of(self.party_id)
            return bool(own) and chain_of(party_id) == own
        return False

    def write_denial(self, kind: EventKind, party_id: str, chain_of: ChainOf) -> str | None:
        """Why this caller may not write this event, or None."""
        if self.role is Role.SUPPLIER and not self.unrestricted and kind not in SUPPLIER_KINDS:
            return f"a SUPPLIER key records receipts and shipments only, not {kind.value}"
        if not self.may_act_for(party_id, chain_of):
            return f"this key may not write events of party {party_id}"
        return None


UNRESTRICTED = Principal("auth-off", Role.REGULATOR, unrestricted=True)
