"""What every client command shares: where the service is, the key, and one clear line per failure.

Exit statuses: 0 done; 1 the service refused some of the work (rows rejected, a conflict, a state that
does not allow it); 2 a bad argument or input (a file that cannot be read, a value the service found
invalid); 3 the service cannot be reached; 4 the key was refused (missing, invalid, revoked, or not
allowed this call); 5 not found. The gRPC status is named in the line.
"""

from __future__ import annotations

import argparse
import os

import grpc

FALLBACK_TARGET = "127.0.0.1:50051"
TARGET_HELP = (
    "the service's gRPC address (default: $TRACESVC_TARGET, else the address $TRACESVC_LISTEN serves on, "
    f"else {FALLBACK_TARGET})"
)


def default_target() -> str:
    """TRACESVC_TARGET, else where TRACESVC_LISTEN serves (a wildcard bind reached on loopback)."""
    given = os.environ.get("TRACESVC_TARGET", "").strip()
    if given:
        return given
    listen = os.environ.get("TRACESVC_LISTEN", "").strip()
    if listen:
        host, _, port = listen.rpartition(":")
        return f"127.0.0.1:{port}" if host in ("", "0.0.0.0", "[::]", "::") else listen
    return FALLBACK_TARGET


def add_remote(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--target", default=default_target(), help=TARGET_HELP)
    parser.add_argument(
        "--key", default=os.environ.get("TRACESVC_API_KEY"), help="API key (default: $TRACESVC_API_KEY)"
    )
    return parser


_BY_CODE = {
    grpc.StatusCode.UNAVAILABLE: (
        3,
        "the service at {target} cannot be reached ({details}); is `tracesvc serve` "
        "running there? Set --target or TRACESVC_TARGET",
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: (3, "the service at {target} did not answer in time ({details}); retry"),
    grpc.StatusCode.UNAUTHENTICATED: (
        4,
        "the API key was refused (UNAUTHENTICATED: {details}): pass --key or set TRACESVC_API_KEY",
    ),
    grpc.StatusCode.PERMISSION_DENIED: (4, "this key may not do that (PERMISSION_DENIED): {details}"),
    grpc.StatusCode.NOT_FOUND: (5, "not found (NOT_FOUND): {details}"),
    grpc.StatusCode.INVALID_ARGUMENT: (2, "refused as invalid (INVALID_ARGUMENT): {details}"),
    grpc.StatusCode.FAILED_PRECONDITION: (1, "refused (FAILED_PRECONDITION): {details}"),
    grpc.StatusCode.ALREADY_EXISTS: (1, "already exists (ALREADY_EXISTS): {details}"),
}


def explain(exc: BaseException, target: str = "") -> tuple[str, int]:
    """One line naming what failed and what to do, and the exit status for it."""
    if isinstance(exc, grpc.aio.AioRpcError | grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        details = (exc.details() or code.name).splitlines()[0][:300]
        if code is grpc.StatusCode.INTERNAL and "Internal error from Core" in details:
            code, details = grpc.StatusCode.UNAVAILABLE, "the connection failed"
        status, text = _BY_CODE.get(code, (1, f"{code.name}: {{details}}"))
        return text.format(target=target or "?", details=details), status
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot read {exc.filename}: {exc.strerror or exc}", 2
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}", 1
