"""What a use case can refuse, independent of the transport: the API layer maps each class to its
status code once (gRPC: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION,
DEADLINE_EXCEEDED, UNAVAILABLE; the console: a page with the matching HTTP status)."""

from __future__ import annotations

from collections.abc import Sequence

from tracesvc.domain.events import Violation


class ServiceError(Exception):
    def __init__(self, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations = tuple(violations)


class InvalidArgument(ServiceError):
    """The request is malformed; `violations` name the fields."""


class NotFound(ServiceError):
    """The thing asked for does not exist."""


class PermissionDenied(ServiceError):
    """The caller's role or scope does not allow this."""


class FailedPrecondition(ServiceError):
    """The request is valid but the state does not allow it now."""


class DeadlineExceeded(ServiceError):
    """The caller's deadline passed before the work was done (nothing was stored)."""


class Unavailable(ServiceError):
    """A part of the service is restarting; the same request may be retried (it is idempotent)."""
