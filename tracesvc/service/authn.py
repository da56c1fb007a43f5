"""Who is calling: a bearer API key or a client certificate's subject → a `Principal`.

Transport-free, so the gRPC interceptor (`tracesvc.api.auth`), the HTTP intake and the console
share one cache of key look-ups.
"""

from __future__ import annotations

import hmac
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.service.access import Principal, Role
from tracesvc.store import keys as key_store

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

    async def from_cert_subject(self, subject: str) -> Principal | None:
        """The principal bound to a client certificate's subject (mTLS)."""
        record = await self._lookup("cert", subject)
        if record is None or record.revoked:
            return None
        return Principal(record.key_id, Role(record.role), record.party_id, record.chain_wide)
