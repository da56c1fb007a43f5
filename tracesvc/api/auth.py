"""Who may do what (DESIGN.md §8): bearer API keys or mTLS client certificates, roles, scopes.

The interceptor authenticates every call (but health and reflection) and checks the
method against the caller's role; servicers check the scope (which party's events a POS
or supplier may write, which party a POS may verify for) with `current()`.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

import grpc
import structlog

from tracesvc.api.interceptors import wrap
from tracesvc.domain.events import EventKind
from tracesvc.store import keys as key_store

log = structlog.get_logger(__name__)


class Role(StrEnum):
    POS = "POS"
    SUPPLIER = "SUPPLIER"
    REGULATOR = "REGULATOR"
    INSPECTOR = "INSPECTOR"


READERS = frozenset({Role.REGULATOR, Role.INSPECTOR})
WRITERS = frozenset({Role.POS, Role.SUPPLIER, Role.REGULATOR})
EVERYONE = frozenset(Role)
SUPPLIER_KINDS = frozenset({EventKind.RECEIPT, EventKind.SHIPMENT})

_P = "/tracesvc.v1."
POLICY: dict[str, frozenset[Role]] = {
    f"{_P}RegistryService/UpsertParties": frozenset({Role.REGULATOR}),
    f"{_P}RegistryService/UpsertProducts": frozenset({Role.REGULATOR}),
    f"{_P}RegistryService/UpsertCommissionedCodes": frozenset({Role.REGULATOR}),
    f"{_P}RegistryService/GetParty": EVERYONE,
    f"{_P}RegistryService/GetProduct": EVERYONE,
    **{f"{_P}IngestService/{m}": WRITERS for m in (
        "RecordReceipt", "RecordShipment", "RecordTransfer", "RecordPurchaseReturn", "RecordOpeningStock",
        "RecordSale", "RecordSaleReturn", "StreamEvents")},
    f"{_P}VerifyService/VerifyCodes": frozenset({Role.POS}) | READERS,
    f"{_P}ReconcileService/RunReconciliation": frozenset({Role.REGULATOR}),
    f"{_P}ReconcileService/GetRun": READERS,
    f"{_P}ReconcileService/ListRuns": READERS,
    f"{_P}EnforcementService/ReviewFlag": frozenset({Role.REGULATOR}),
    **{f"{_P}EnforcementService/{m}": READERS for m in (
        "GetCodeHistory", "ListFlags", "GetFlag", "ListReturnChains", "RankSuspects", "ExportEvidence")},
    # cases (issue 16): inspectors and regulators open and work cases; a bulk review is a review
    **{f"{_P}EnforcementService/{m}": READERS for m in (
        "CreateCase", "AddToCase", "RemoveFromCase", "UpdateCase", "GetCase", "ListCases", "SuggestCases",
        "ExportCase")},
    f"{_P}EnforcementService/ReviewFlags": frozenset({Role.REGULATOR}),
}
PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    party_id: str | None = None
    chain_wide: bool = False
    unrestricted: bool = False  # authentication switched off (development only)

    def may_act_for(self, party_id: str, chain_of) -> bool:
        """POS and SUPPLIER act for their own party (a chain-wide POS key for its whole chain)."""
        if self.unrestricted or self.role in (Role.REGULATOR,):
            return True
        if self.role is Role.INSPECTOR:
            return False
        if party_id == self.party_id:
            return True
        if self.role is Role.POS and self.chain_wide:
            own = chain_of(self.party_id)
            return bool(own) and chain_of(party_id) == own
        return False

    def write_denial(self, kind: EventKind, party_id: str, chain_of) -> str | None:
        """Why this caller may not write this event, or None."""
        if self.role is Role.SUPPLIER and not self.unrestricted and kind not in SUPPLIER_KINDS:
            return f"a SUPPLIER key records receipts and shipments only, not {kind.value}"
        if not self.may_act_for(party_id, chain_of):
            return f"this key may not write events of party {party_id}"
        return None


UNRESTRICTED = Principal("auth-off", Role.REGULATOR, unrestricted=True)
_current: ContextVar[Principal] = ContextVar("principal", default=UNRESTRICTED)


def current() -> Principal:
    return _current.get()


class Authenticator:
    """Finds the key behind a call's credentials; caches look-ups briefly (revocation takes ≤ ttl)."""

    def __init__(self, engine, ttl: float = 30.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, key_store.KeyRecord | None]] = {}

    async def _lookup(self, how: str, value: str) -> key_store.KeyRecord | None:
        hit = self._cache.get((how, value))
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        record = await (key_store.find_key(self._engine, key_id=value) if how == "id"
                        else key_store.find_key(self._engine, cert_subject=value))
        self._cache[(how, value)] = (time.monotonic(), record)
        return record

    async def principal(self, context: grpc.aio.ServicerContext) -> Principal | None:
        token = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
                token = value[7:].strip()
        record = None
        if token:
            parts = key_store.split_token(token)
            if parts is None:
                return None
            record = await self._lookup("id", parts[0])
            if record is None or not hmac.compare_digest(record.secret_hash, key_store.hash_secret(parts[1])):
                return None
        else:
            names = (context.auth_context() or {}).get("x509_common_name") or []
            if names:
                record = await self._lookup("cert", names[0].decode())
        if record is None or record.revoked:
            return None
        return Principal(record.key_id, Role(record.role), record.party_id, record.chain_wide)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, enabled: bool = True) -> None:
        self._auth = authenticator
        self._enabled = enabled

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        allowed = POLICY.get(method, frozenset())  # a method nobody listed: nobody may call it

        @contextlib.asynccontextmanager
        async def guarded(context):
            principal = UNRESTRICTED
            if self._enabled:
                found = await self._auth.principal(context)
                if found is None:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing, invalid or revoked credentials")
                if found.role not in allowed:
                    log.info("denied", key_id=found.key_id, role=found.role.value)
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                        f"role {found.role.value} may not call {method.rsplit('/', 1)[-1]}")
                principal = found
            structlog.contextvars.bind_contextvars(key_id=principal.key_id)
            token = _current.set(principal)
            try:
                yield
            finally:
                _current.reset(token)

        return wrap(handler, guarded)
