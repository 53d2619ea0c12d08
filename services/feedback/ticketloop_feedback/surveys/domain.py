"""What a survey is allowed to be: its status, its token and link, its answer bounds and errors."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum

from ticketloop_shared.errors import Conflict, DomainError, NotFound

CSAT_MIN, CSAT_MAX = 1, 5
NPS_MIN, NPS_MAX = 0, 10
COMMENT_MAX = 2000

TOKEN_BYTES = 24
# Anything else cannot be a token we issued, so it is answered 404 without a query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SurveyStatus(StrEnum):
    """Where a survey is, as its customer sees it."""

    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


def status_at(*, answered_at: datetime | None, expires_at: datetime, now: datetime) -> SurveyStatus:
    """An answer stays visible after expiry; an unanswered survey closes at `expires_at`."""
    if answered_at is not None:
        return SurveyStatus.ANSWERED
    if now >= expires_at:
        return SurveyStatus.EXPIRED
    return SurveyStatus.OPEN


def new_token() -> str:
    """The secret that stands in for a login, so it must be unguessable."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token_shaped(token: str) -> bool:
    """Rejects junk (and NUL bytes, which PostgreSQL refuses) before it reaches a query."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def survey_link(public_base_url: str, token: str) -> str:
    """The URL the customer is sent; it is the survey's only credential."""
    return f"{public_base_url}/v1/surveys/{token}"


class SurveyNotFound(NotFound):
    """No survey behind this token or ticket (or not yet: it is created when the ticket resolves)."""

    code = "survey_not_found"


class SurveyAlreadyAnswered(Conflict):
    """A survey counts one answer; a second one would skew the scores."""

    code = "survey_already_answered"


class SurveyExpired(DomainError):
    """The answer window has closed; 410 tells the customer the link is gone for good."""

    status_code = 410
    code = "survey_expired"
