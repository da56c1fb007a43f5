"""A key revoked through this process stops working at once; elsewhere within the cache's TTL."""

from __future__ import annotations

from tracesvc.service.authn import KEY_CACHE_TTL_S, Authenticator
from tracesvc.store import keys
from tracesvc.store.db import create_engine


async def test_a_key_revoked_here_is_refused_at_once(db_url):
    engine = create_engine(db_url)
    try:
        key_id, token = await keys.create_key(engine, "REGULATOR", name="ops")
        here = Authenticator(engine)  # registers itself for revocations made in this process
        assert await here.from_bearer(token) is not None  # cached now
        await keys.revoke_key(engine, key_id)
        assert await here.from_bearer(token) is None
        assert KEY_CACHE_TTL_S <= 10  # the bound README states for other instances
    finally:
        await engine.dispose()
