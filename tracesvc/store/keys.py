"""API keys: created once, shown once, stored as a hash of their secret."""

from __future__ import annotations

import hashlib
import secrets
import weakref
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from tracesvc.store.db import pg

PREFIX = "tsk"


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    secret_hash: bytes
    role: str
    party_id: str | None
    chain_wide: bool
    cert_subject: str | None
    name: str
    revoked: bool


def hash_secret(secret: str) -> bytes:
    # The secret is 256 random bits: a plain SHA-256 is enough (no password to stretch).
    return hashlib.sha256(secret.encode()).digest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key_id, secret) from ``tsk_<key_id>_<secret>``, or None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create_key(
    engine: AsyncEngine,
    role: str,
    party_id: str | None = None,
    *,
    chain_wide: bool = False,
    name: str = "",
    cert_subject: str | None = None,
) -> tuple[str, str]:
    """Store a new key; return (key_id, token). The token is not kept anywhere: give it to the caller once."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    async with pg(engine) as conn:
        await conn.execute(
            """INSERT INTO api_keys (key_id, secret_hash, role, party_id, chain_wide, name, cert_subject)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            key_id,
            hash_secret(secret),
            role,
            party_id,
            chain_wide,
            name,
            cert_subject,
        )
    return key_id, f"{PREFIX}_{key_id}_{secret}"


def _record(r) -> KeyRecord:
    return KeyRecord(
        r["key_id"],
        bytes(r["secret_hash"]),
        r["role"],
        r["party_id"],
        r["chain_wide"],
        r["cert_subject"],
        r["name"],
        r["revoked_at"] is not None,
    )


async def find_key(
    engine: AsyncEngine, *, key_id: str | None = None, cert_subject: str | None = None
) -> KeyRecord | None:
    async with pg(engine) as conn:
        if key_id is not None:
            r = await conn.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", key_id)
        else:
            r = await conn.fetchrow("SELECT * FROM api_keys WHERE cert_subject = $1", cert_subject)
    return _record(r) if r else None


async def list_keys(engine: AsyncEngine) -> list[KeyRecord]:
    async with pg(engine) as conn:
        return [_record(r) for r in await conn.fetch("SELECT * FROM api_keys ORDER BY created_at")]


# Key caches of this process (the authenticators), told at once when a key is revoked here.
_revocation_listeners: weakref.WeakSet[RevocationListener] = weakref.WeakSet()


class RevocationListener(Protocol):
    def forget(self, key_id: str) -> None: ...


def on_revoke(listener: RevocationListener) -> None:
    """Have `listener.forget(key_id)` called whenever this process revokes a key."""
    _revocation_listeners.add(listener)


async def revoke_key(engine: AsyncEngine, key_id: str) -> bool:
    async with pg(engine) as conn:
        status = await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id
        )
    for listener in list(_revocation_listeners):
        listener.forget(key_id)
    return status.endswith(" 1")


async def audit(engine: AsyncEngine, key_id: str, role: str, method: str, target: str, *, detail: str = "") -> None:
    """Record one read of evidence (who, what, when). Never pass a clear personal identifier."""
    async with pg(engine) as conn:
        await conn.execute(
            "INSERT INTO audit_log (key_id, role, method, target, detail) VALUES ($1, $2, $3, $4, $5)",
            key_id,
            role,
            method,
            target,
            detail,
        )
