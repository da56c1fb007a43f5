"""Which database failures are the database being away (retry later) and which are bugs.

One classification for every transport: gRPC maps `Fault.UNAVAILABLE` to UNAVAILABLE and
`Fault.ABORTED` to ABORTED (both retryable), HTTP to 503; anything `classify` returns None for
is unexpected (INTERNAL with a request id, a traceback in the log).
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import asyncpg
from sqlalchemy import exc as sa_exc


class Fault(StrEnum):
    UNAVAILABLE = "UNAVAILABLE"  # connection lost or refused, server shutting down, timeouts
    ABORTED = "ABORTED"  # deadlock or serialization failure: the transaction was rolled back


class FaultElsewhere(Exception):
    """A database fault classified in another process (a bulk-lane worker), carried back as itself:
    the driver's own exceptions do not cross a process boundary intact."""

    def __init__(self, fault: str) -> None:
        super().__init__(fault)
        self.fault = Fault(fault)


# asyncpg's errors that mean the connection or the server is gone (SQLSTATE classes 08, 57P0x,
# 53300 too many connections, 57014 statement timeout / cancel), and its client-side ones.
_UNAVAILABLE_PG: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    asyncpg.InternalClientError,
)
_ABORTED_PG: tuple[type[BaseException], ...] = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_UNAVAILABLE_OS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)
_UNAVAILABLE_SA: tuple[type[BaseException], ...] = (sa_exc.DisconnectionError, sa_exc.TimeoutError)


def _chain(exc: BaseException, depth: int = 8) -> list[BaseException]:
    """The exception, what SQLAlchemy wrapped (`.orig`), and its causes, a few levels deep."""
    out: list[BaseException] = []
    todo = [exc]
    while todo and len(out) < depth:
        e = todo.pop(0)
        if e in out:
            continue
        out.append(e)
        for nxt in (getattr(e, "orig", None), e.__cause__, e.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return out


def classify(exc: BaseException) -> Fault | None:
    """UNAVAILABLE or ABORTED for a database fault a client should retry; None otherwise."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, FaultElsewhere):
            return e.fault
        if isinstance(e, _ABORTED_PG):
            return Fault.ABORTED
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return Fault.UNAVAILABLE
        if isinstance(e, _UNAVAILABLE_PG + _UNAVAILABLE_SA):
            return Fault.UNAVAILABLE
    # A bare OS error counts only where the database stack raised it (connect, socket I/O).
    in_driver = any(isinstance(e, (asyncpg.PostgresError, sa_exc.SQLAlchemyError)) for e in chain) or _from_driver(exc)
    if in_driver and any(isinstance(e, _UNAVAILABLE_OS) for e in chain):
        return Fault.UNAVAILABLE
    return None


def _from_driver(exc: BaseException) -> bool:
    """Whether an OS error was raised inside asyncpg or SQLAlchemy (its traceback says so)."""
    if not isinstance(exc, _UNAVAILABLE_OS):
        return False
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy", "tracesvc.store", "reconciler.store", "asyncio")):
            return True
        tb = tb.tb_next
    return False


def is_disconnect(exc: BaseException) -> bool:
    """Whether a failure leaves a connection unusable, so the pool must discard it: a lost
    connection, or a call cancelled mid-query (asyncpg then refuses the next one with "another
    operation is in progress"). Server-side errors (a constraint, a bad value) leave it healthy."""
    return isinstance(exc, asyncio.CancelledError) or classify(exc) is Fault.UNAVAILABLE
