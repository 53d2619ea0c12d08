"""Business errors: each carries its HTTP status and a machine-readable code, so an expected
outcome is never a 500 and every client can branch on `error.code`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class DomainError(Exception):
    """Base of every expected failure; rendered as `{"error": {"code", "message", "details"}}`."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers that go with this error (e.g. `Retry-After`)."""
        return None


class NotFound(DomainError):
    """The addressed resource does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """The request is well-formed but clashes with the current state."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A lifecycle change that is not allowed from the current status."""

    code = "invalid_transition"


class Gone(DomainError):
    """The addressed resource existed but is no longer available (an expired or replaced link)."""

    status_code = 410
    code = "gone"


class Unprocessable(DomainError):
    """The body parsed but its content is not acceptable."""

    status_code = 422
    code = "unprocessable"


class Unauthorized(DomainError):
    """No credentials, or credentials that do not verify."""

    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials that do not allow this action."""

    status_code = 403
    code = "forbidden"


class PreconditionFailed(DomainError):
    """The `If-Match` the client sent no longer matches: someone changed the resource since."""

    status_code = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    """A change that must say which version it replaces (`If-Match`) did not. One code for every
    route, so a client handles a missing `If-Match` the same way everywhere."""

    status_code = 428
    code = "if_match_required"


class ContentTooLarge(DomainError):
    """Something the request carries (a file) is larger than allowed, though the body itself was
    within the service's limit."""

    status_code = 413
    code = "content_too_large"


class UnsupportedMediaType(DomainError):
    """Content of a type the service does not take (decided from the content, not its name)."""

    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(DomainError):
    """The caller went over a rate limit; `retry_after` says when to try again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, policy: str, retry_after: int, limit: int, window_seconds: int) -> None:
        details = {"policy": policy, "retry_after": retry_after, "limit": limit, "window_seconds": window_seconds}
        super().__init__(message, code="rate_limited", details=details)
        self.policy = policy
        self.retry_after = retry_after
        self.limit = limit
        self.window_seconds = window_seconds

    @property
    def headers(self) -> dict[str, str]:
        """`Retry-After`, and the policy and state in both RateLimit header styles."""
        return {
            "Retry-After": str(self.retry_after),
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{self.policy}";r=0;t={self.retry_after}',
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(self.retry_after),
        }


class PermanentEventError(Exception):
    """An event that can never be handled (bad content); it goes straight to the dead-letter topic."""


class ErrorBody(BaseModel):
    """What went wrong: a stable machine-readable `code`, a message for people, optional details."""

    code: str = Field(examples=["validation_error"])
    message: str
    details: Any = Field(default=None, description="Present when there is more to say, e.g. the failing fields.")


class ErrorResponse(BaseModel):
    """The one error shape of every 4xx and 503 response."""

    error: ErrorBody


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the whole API, as a JSON-ready dict (details only when given)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}
