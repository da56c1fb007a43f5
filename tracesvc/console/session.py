"""Console sessions: a server-side session per sign-in, its CSRF token, and the sign-in rate limit.

The cookie holds only a random session id (HttpOnly, SameSite=Strict, Secure behind TLS); the
principal stays in this process. A session ends at sign-out, after `idle` without a request, or
`absolute` after sign-in, whichever comes first. Sessions do not survive a restart: signing in
again is the price of keeping no credential on disk.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tracesvc.service.access import Principal

COOKIE = "tracesvc_console"
PRE_COOKIE = "tracesvc_console_pre"  # the sign-in form's CSRF token, before there is a session
MAX_SESSIONS = 10_000


@dataclass
class Session:
    sid: str
    principal: Principal
    csrf: str
    created: float
    seen: float
    label: str = ""  # the key's id, shown in the header


@dataclass
class Sessions:
    idle: float = 30 * 60.0
    absolute: float = 8 * 3600.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _by_id: dict[str, Session] = field(default_factory=dict, repr=False)

    def _now(self) -> float:
        return self.clock()

    def open(self, principal: Principal) -> Session:
        now = self._now()
        if len(self._by_id) >= MAX_SESSIONS:
            self.sweep()
        if len(self._by_id) >= MAX_SESSIONS:  # still full: the oldest session gives way
            del self._by_id[min(self._by_id.values(), key=lambda s: s.created).sid]
        session = Session(secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32), now, now, principal.key_id)
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        """The live session of a cookie value, its idle clock restarted; None if unknown or expired."""
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = self._now()
        if now - session.seen > self.idle or now - session.created > self.absolute:
            del self._by_id[sid]
            return None
        session.seen = now
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def sweep(self) -> None:
        now = self._now()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > self.idle or now - s.created > self.absolute:
                del self._by_id[sid]


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass
class LoginLimiter:
    """At most `attempts` failed sign-ins per client address in `window` seconds; then refusals until
    the oldest failure leaves the window (a key has 256 bits: this only keeps noise down and logs honest)."""

    attempts: int = 5
    window: float = 300.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _failures: dict[str, deque[float]] = field(default_factory=dict, repr=False)

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        seen = self._failures.setdefault(client, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        return seen

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try again (0: now)."""
        seen = self._recent(client)
        if len(seen) < self.attempts:
            return 0
        return max(1, int(self.window - (self.clock() - seen[0])) + 1)

    def failed(self, client: str) -> None:
        if len(self._failures) > MAX_SESSIONS:
            self._failures.clear()
        self._recent(client).append(self.clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
