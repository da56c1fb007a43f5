"""Authentication on the wire: bearer API keys or mTLS client certificates → a `Principal`.

The interceptor authenticates every call (but health and reflection) and checks the method
against the caller's role (`tracesvc.service.access.POLICY`); servicers pass `current()` to
the use cases, which check scope.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import grpc
import structlog

from tracesvc.api.interceptors import Continuation, wrap
from tracesvc.service.access import PUBLIC_PREFIXES, UNRESTRICTED, Principal, allowed_roles
from tracesvc.service.authn import Authenticator

log = structlog.get_logger(__name__)

_current: ContextVar[Principal] = ContextVar("principal", default=UNRESTRICTED)


def current() -> Principal:
    """The caller of the RPC being served (UNRESTRICTED with authentication off)."""
    return _current.get()


async def principal_of(authenticator: Authenticator, context: grpc.aio.ServicerContext[Any, Any]) -> Principal | None:
    """The caller behind a call's bearer key (metadata), else its client certificate's subject."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            token = value[7:].strip()
            if token:
                return await authenticator.from_bearer(token)
    names = list((context.auth_context() or {}).get("x509_common_name") or [])
    return await authenticator.from_cert_subject(names[0].decode()) if names else None


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
                found = await principal_of(self._auth, context)
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
