"""API errors: raise one of these anywhere; the error middleware renders docs/API.md section 3."""
from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"
    # The rest of the request cannot be trusted or waited for: answer, then close.
    closes_connection = False

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, errors: list[dict] | None = None,
                 errors_truncated: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Every problem found, [{field, message}] (400 and 422, docs/API.md section 9);
        # None: the one problem above is the list.
        self.errors = errors
        self.errors_truncated = errors_truncated
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidParameter(ApiError):
    status, code = 400, "invalid_parameter"


class InvalidJson(ApiError):
    status, code = 400, "invalid_json"


class InvalidCursor(ApiError):
    status, code = 400, "invalid_cursor"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "authentication required", **kwargs) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, **kwargs)


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status, code = 409, "conflict"


class RequestTimeout(ApiError):
    """The body did not arrive within REQUEST_BODY_TIMEOUT_S; the connection is closed."""
    status, code = 408, "request_timeout"
    closes_connection = True


class UnreadableBody(ApiError):
    """The body's framing or encoding is broken (a bad chunk, a Content-Encoding that does
    not decode); the connection is closed, since where the next request starts is unknown."""
    status, code = 400, "bad_request"
    closes_connection = True


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_error"


class TooManyRequests(ApiError):
    """Throttled (repeated failed logins): try again after Retry-After seconds."""

    status, code = 429, "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(ApiError):
    """The database cannot answer now: down, pool exhausted, or a statement timed out."""

    status, code = 503, "database_unavailable"

    def __init__(self, message: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})


class DatabaseConnectionLost(ServiceUnavailable):
    """The server could not be reached or dropped the connection under a statement
    (restart, admin shutdown, reset). Still 503; an idempotent read is retried once."""
