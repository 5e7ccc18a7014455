"""API errors, mapped from the server's ``Status`` answers to a small exception hierarchy.

Catch the specific class you can handle (``NotFound``, ``Conflict``, ``AlreadyExists``...) and let the rest
propagate: the controller logs, counts and backs off anything a reconciler raises. ``message`` is the server's
own explanation (for ``Invalid``, the field errors), ``reason`` its machine-readable reason.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the API server (or the in-memory backend) refused, or one that never got an answer."""

    status: int = 0
    default_reason: str = ""

    def __init__(
        self, message: str = "", *, reason: str = "", status: int | None = None, details: Any = None
    ):
        super().__init__(message or reason or self.default_reason or type(self).__name__)
        self.message = message
        self.reason = reason or self.default_reason
        if status is not None:
            self.status = status
        self.details = details

    def __str__(self) -> str:
        text = self.message or self.reason or type(self).__name__
        return f"{text} ({self.status} {self.reason})" if self.status else text


class BadRequest(ApiError):
    status = 400
    default_reason = "BadRequest"


class Unauthorized(ApiError):
    status = 401
    default_reason = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    default_reason = "Forbidden"


class NotFound(ApiError):
    status = 404
    default_reason = "NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    default_reason = "MethodNotAllowed"


class Conflict(ApiError):
    """The object changed since it was read (stale resourceVersion or failed precondition)."""

    status = 409
    default_reason = "Conflict"


class AlreadyExists(ApiError):
    status = 409
    default_reason = "AlreadyExists"


class Gone(ApiError):
    """The requested resourceVersion is too old (compacted): list again, then watch from the new one."""

    status = 410
    default_reason = "Expired"


class Invalid(ApiError):
    """The object failed validation; ``message`` carries the server's field errors."""

    status = 422
    default_reason = "Invalid"


class TooManyRequests(ApiError):
    status = 429
    default_reason = "TooManyRequests"


class ServerError(ApiError):
    status = 500
    default_reason = "InternalError"


class ServerTimeout(ServerError):
    status = 504
    default_reason = "Timeout"


class TransportError(ApiError):
    """No answer: connection refused or reset, TLS failure, or the request timed out on our side."""

    status = 0
    default_reason = "TransportError"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
    504: ServerTimeout,
}


def error_from_status(http_status: int, status: dict[str, Any] | None) -> ApiError:
    """The exception for an HTTP error code and the ``Status`` body the server sent with it (if any)."""
    status = status or {}
    code = int(status.get("code") or http_status)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    cls: type[ApiError]
    if code == 409 and reason == "AlreadyExists":
        cls = AlreadyExists
    else:
        cls = _BY_STATUS.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(message, reason=reason or cls.default_reason, status=code, details=status.get("details"))


def is_retriable(exc: BaseException) -> bool:
    """Whether an error is worth retrying unchanged later (transport trouble, throttling, server errors)."""
    return isinstance(exc, TransportError | TooManyRequests | ServerError)


def is_namespace_terminating(exc: BaseException) -> bool:
    """Whether a create was refused because its namespace is being deleted: nothing made there can stay, and
    retrying cannot help."""
    return isinstance(exc, Forbidden) and "because it is being terminated" in str(exc)
