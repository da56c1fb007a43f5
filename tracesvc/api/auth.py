"""Authentication on the wire: bearer API keys or mTLS client certificates → a `Principal`.

The interceptor authenticates every call (but health and reflection) and checks the method
against the caller's role (`tracesvc.service.access.POLICY`); servicers pass `current()` to
the use cases, which check scope.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import grpc
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.api.interceptors import Continuation, wrap
from tracesvc.service.access import PUBLIC_PREFIXES, UNRESTRICTED, Principal, Role, allowed_roles
from tracesvc.store import keys as key_store

log = structlog.get_logger(__name__)

_current: ContextVar[Principal] = ContextVar("principal", default=UNRESTRICTED)


def current() -> Principal:
    """The caller of the RPC being served (UNRESTRICTED with authentication off)."""
    return _current.get()


KEY_CACHE_TTL_S = 10.0
_MAX_CACHED = 10_000


class Authenticator:
    """Finds the key behind a call's credentials; caches look-ups briefly.

    A key revoked through this process (`store.keys.revoke_key`) is forgotten at once; one
    revoked elsewhere (another instance, the CLI) stops working within `ttl` seconds.
    """

    def __init__(self, engine: AsyncEngine, ttl: float = KEY_CACHE_TTL_S) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, key_store.KeyRecord | None]] = {}
        key_store.on_revoke(self)

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (it was revoked): its next call is looked up afresh."""
        for cache_key, (_, record) in list(self._cache.items()):
            if cache_key == ("id", key_id) or (record is not None and record.key_id == key_id):
                self._cache.pop(cache_key, None)

    async def _lookup(self, how: str, value: str) -> key_store.KeyRecord | None:
        hit = self._cache.get((how, value))
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        if how == "id":
            record = await key_store.find_key(self._engine, key_id=value)
        else:
            record = await key_store.find_key(self._engine, cert_subject=value)
        if len(self._cache) >= _MAX_CACHED:  # unknown ids from a hostile caller must not grow it forever
            self._cache.clear()
        self._cache[(how, value)] = (time.monotonic(), record)
        return record

    async def from_bearer(self, token: str) -> Principal | None:
        """The principal of a bearer API key (the gRPC metadata's, or an HTTP Authorization header's)."""
        parts = key_store.split_token(token)
        if parts is None:
            return None
        record = await self._lookup("id", parts[0])
        if record is None or record.revoked:
            return None
        if not hmac.compare_digest(record.secret_hash, key_store.hash_secret(parts[1])):
            return None
        return Principal(record.key_id, Role(record.role), record.party_id, record.chain_wide)

    async def principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal | None:
        token = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
                token = value[7:].strip()
        record = None
        if token:
            return await self.from_bearer(token)
        else:
            names = list((context.auth_context() or {}).get("x509_common_name") or [])
            if names:
                record = await self._lookup("cert", names[0].decode())
        if record is None or record.revoked:
            return None
        return Principal(record.key_id, Role(record.role), record.party_id, record.chain_wide)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, enabled: bool = True) -> None:
        self._auth = authenticator
        self._enabled = enabled

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        allowed = allowed_roles(method)

        @contextlib.asynccontextmanager
        async def guarded(context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
            principal = UNRESTRICTED
            if self._enabled:
                found = await self._auth.principal(context)
                if found is None:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing, invalid or revoked credentials")
                    return
                if found.role not in allowed:
                    log.info("denied", key_id=found.key_id, role=found.role.value)
                    await context.abort(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"role {found.role.value} may not call {method.rsplit('/', 1)[-1]}",
                    )
                principal = found
            structlog.contextvars.bind_contextvars(key_id=principal.key_id)
            token = _current.set(principal)
            try:
                yield
            finally:
                _current.reset(token)

        return wrap(handler, guarded)
