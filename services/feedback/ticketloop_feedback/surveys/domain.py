"""What a survey is allowed to be: its kinds and timing, its status, how an answer is checked
against its template (`templates.domain`), what counts as a low score, its token and link, and its
errors. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ticketloop_feedback.templates.domain import CONTACT_OK, CSAT, NPS, Question, QuestionKind, Template
from ticketloop_shared.errors import Conflict, DomainError, NotFound, Unprocessable
from ticketloop_shared.events import Dimension, SurveyKind
from ticketloop_shared.vocabulary import Segment

# A survey that failed to go out is tried again this much later (it is logged each time).
RETRY_AFTER_FAILURE = timedelta(minutes=5)

COMMENT_MAX = 2000

# Anything else cannot be a token we issued, so it is answered 404 without a query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# The relationship survey of a new customer is asked once ever: one period for all time.
ONBOARDING_PERIOD = "onboarding"

# The segments that time relationship surveys (retrospective names them, SPEC §5).
NEW_SEGMENT = Segment.NEW.value
HIGH_VALUE_SEGMENT = Segment.HIGH_VALUE.value

# Why a survey was withdrawn (`feedback.survey_cancelled.reason`).
CANCELLED_REOPENED = "reopened"
CANCELLED_SEGMENT_LEFT = "segment_left"


class SurveyStatus(StrEnum):
    """Where a survey is: waiting for its due time, out with the customer, answered, closed
    unanswered, or withdrawn."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def status_at(
    *,
    sent_at: datetime | None,
    cancelled_at: datetime | None,
    answered_at: datetime | None,
    expires_at: datetime,
    now: datetime,
) -> SurveyStatus:
    """An answer stays visible after expiry; an unanswered survey closes at `expires_at`."""
    if answered_at is not None:
        return SurveyStatus.ANSWERED
    if cancelled_at is not None:
        return SurveyStatus.CANCELLED
    if sent_at is None:
        return SurveyStatus.SCHEDULED
    if now >= expires_at:
        return SurveyStatus.EXPIRED
    return SurveyStatus.OPEN


# --- timing -----------------------------------------------------------------------------------


def ticket_survey_due(resolved_at: datetime, *, delay: timedelta) -> datetime:
    """A problem's survey goes out a while after its resolution, once the fix has been tried."""
    return resolved_at + delay


def first_cooperation(
    *, customer_since: date | None, first_seen_at: datetime | None, fallback: datetime, zone: ZoneInfo
) -> datetime:
    """When the relationship began: the customer's start date (midnight where surveys are timed),
    else when the loop first saw them, else `fallback` (when they were announced new)."""
    if customer_since is not None:
        return datetime.combine(customer_since, time(0), tzinfo=zone)
    return first_seen_at or fallback


def onboarding_survey_due(began: datetime, *, delay: timedelta) -> datetime:
    """A new customer is asked a week (the delay) after the first cooperation (SPEC §3)."""
    return began + delay


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter in the survey time zone: its label and the instant it ends."""

    label: str
    ends_at: datetime


def quarter_of(instant: datetime, zone: ZoneInfo) -> Quarter:
    """The quarter `instant` falls in, where surveys are timed; it ends at local midnight of the
    next quarter's first day (the high-value survey is due then)."""
    local = instant.astimezone(zone)
    index = (local.month - 1) // 3  # 0..3
    year, month = (local.year + 1, 1) if index == 3 else (local.year, 3 * index + 4)
    ends_at = datetime(year, month, 1, tzinfo=zone)
    return Quarter(label=f"{local.year}-Q{index + 1}", ends_at=ends_at)


def next_quarter(quarter: Quarter, zone: ZoneInfo) -> Quarter:
    """The quarter after `quarter`."""
    return quarter_of(quarter.ends_at, zone)


_QUARTER_LABEL = re.compile(r"(\d{4})-Q([1-4])")


def quarter_named(label: str, zone: ZoneInfo) -> Quarter:
    """The quarter a label (`2026-Q4`) names."""
    match = _QUARTER_LABEL.fullmatch(label)
    if match is None:
        raise ValueError(f"not a quarter: {label!r}")
    year, index = int(match[1]), int(match[2])
    return quarter_of(datetime(year, 3 * index - 2, 1, tzinfo=zone), zone)


def resolution_is_stale(resolved_at: datetime, *, last_reopened_at: datetime | None) -> bool:
    """A resolution the ticket was reopened after (the reopen arrived first) is surveyed no more."""
    return last_reopened_at is not None and last_reopened_at >= resolved_at


def delivery_channel(kind: SurveyKind, *, known: str | None, latest: str | None) -> str | None:
    """The channel to deliver on: what the customer said on the ticket, else their latest known
    preference; a relationship survey goes by the latest preference first."""
    return (known or latest) if kind is SurveyKind.TICKET else (latest or known)


# --- answers ----------------------------------------------------------------------------------

AnswerValue = int | str | bool


@dataclass(frozen=True)
class Problem:
    """Why one part of an answer was refused, in the shape of the API's validation errors."""

    question: str
    type: str
    msg: str

    def as_detail(self) -> dict[str, Any]:
        """The error detail clients read (`loc` as in every 422 of the API)."""
        return {"loc": ["body", self.question], "type": self.type, "msg": self.msg}


@dataclass(frozen=True)
class Answer:
    """An answer that fits its template: the value of each question answered."""

    values: Mapping[str, AnswerValue] = field(default_factory=dict)

    def score(self, question_id: str) -> int | None:
        """A scale's value, if answered."""
        value = self.values.get(question_id)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def dimensions(self) -> dict[Dimension, int]:
        """The relationship scores answered."""
        return {d: s for d in Dimension if (s := self.score(d.value)) is not None}

    @property
    def contact_ok(self) -> bool | None:
        """Whether the customer may be contacted, if asked and answered."""
        value = self.values.get(CONTACT_OK)
        return value if isinstance(value, bool) else None

    @property
    def has_text(self) -> bool:
        """Whether any free text was written (the text itself never leaves this service)."""
        return any(isinstance(v, str) for v in self.values.values())


# --- what a customer wrote: sealed apart from the scores ---------------------------------------


def texts_field(survey_id: object) -> str:
    """What a survey's sealed texts are bound to (with the customer): copied to another survey,
    they do not open."""
    return f"survey-texts:{survey_id}"


def split_texts(values: Mapping[str, AnswerValue]) -> tuple[dict[str, AnswerValue | None], dict[str, str]]:
    """An answer as stored: the scores and yes/no answers as they are, each free text replaced by
    null (it is sealed apart, with the customer's key); and the texts by question id."""
    texts = {q: v for q, v in values.items() if isinstance(v, str)}
    return {q: None if q in texts else v for q, v in values.items()}, texts


def with_texts(
    stored: Mapping[str, AnswerValue | None], texts: Mapping[str, str] | None, *, erased: str
) -> dict[str, AnswerValue]:
    """The answer as staff read it: each text put back where the stored answer holds its place,
    or `erased` where it can no longer be read (its customer was erased). A text stored in an
    older form (in the answer itself) is shown as it is."""
    return {q: (v if v is not None else (texts or {}).get(q, erased)) for q, v in stored.items()}


def validate_answer(template: Template, raw: Mapping[str, Any]) -> Answer | list[Problem]:
    """The answer if it fits the template, else every reason it does not: a question the template
    does not ask, a required one left out, a value of the wrong type or out of range. Blank text
    counts as not answered; text is trimmed."""
    problems = [
        Problem(key, "unknown_question", "this survey asks no such question")
        for key in raw
        if template.question(key) is None
    ]
    values: dict[str, AnswerValue] = {}
    for q in template.questions:
        value = raw.get(q.id)
        if isinstance(value, str) and q.kind is QuestionKind.TEXT:
            value = value.strip() or None
        if value is None:
            if q.required:
                problems.append(Problem(q.id, "missing", "this question must be answered"))
            continue
        problem = _value_problem(q, value)
        if problem is not None:
            problems.append(problem)
        else:
            values[q.id] = value
    return problems or Answer(values)


def _value_problem(q: Question, value: object) -> Problem | None:
    if q.kind is QuestionKind.SCALE:
        if not isinstance(value, int) or isinstance(value, bool):
            return Problem(q.id, "int_type", "a score must be a whole number")
        assert q.min is not None and q.max is not None
        if value < q.min:
            return Problem(q.id, "greater_than_equal", f"a score must be at least {q.min}")
        if value > q.max:
            return Problem(q.id, "less_than_equal", f"a score must be at most {q.max}")
        return None
    if q.kind is QuestionKind.YES_NO:
        return None if isinstance(value, bool) else Problem(q.id, "bool_type", "the answer must be true or false")
    if not isinstance(value, str):
        return Problem(q.id, "string_type", "the answer must be text")
    if q.max_length is not None and len(value) > q.max_length:
        return Problem(q.id, "string_too_long", f"at most {q.max_length} characters")
    if "\x00" in value:
        return Problem(q.id, "nul_byte", "NUL bytes are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return Problem(q.id, "invalid_unicode", "text must be valid Unicode (no unpaired surrogates)")
    return None


# --- low scores -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowScoreThresholds:
    """At or under these, an answer is a problem in itself (SPEC §3)."""

    csat: int
    overall: int
    nps: int


def low_score_reasons(answer: Answer, thresholds: LowScoreThresholds) -> list[str]:
    """Each threshold the answer is at or under (`csat`, `overall`, `nps`); empty if none."""
    scores = (
        (CSAT, answer.score(CSAT), thresholds.csat),
        (Dimension.OVERALL.value, answer.score(Dimension.OVERALL.value), thresholds.overall),
        (NPS, answer.score(NPS), thresholds.nps),
    )
    return [name for name, score, limit in scores if score is not None and score <= limit]


# --- the link ---------------------------------------------------------------------------------


def is_token_shaped(token: str) -> bool:
    """Rejects junk (and NUL bytes, which PostgreSQL refuses) before it reaches a query."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def survey_link(public_base_url: str, token: str) -> str:
    """The URL the customer is sent; it is the survey's only credential."""
    return f"{public_base_url}/v1/surveys/{token}"


# --- errors -----------------------------------------------------------------------------------


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


class SurveyWithdrawn(DomainError):
    """The survey was withdrawn (its ticket reopened, or it no longer applies): gone for good."""

    status_code = 410
    code = "survey_cancelled"


class InvalidAnswer(Unprocessable):
    """The answer does not fit the survey's template; `details` names every question and reason."""

    code = "invalid_answer"


def refusal(status: SurveyStatus, *, expires_at: datetime, cancel_reason: str | None) -> DomainError | None:
    """Why a survey in this status takes no answer; None for an open one."""
    if status is SurveyStatus.EXPIRED:
        return SurveyExpired(
            "this survey closed before it was answered", details={"expires_at": expires_at.isoformat()}
        )
    if status is SurveyStatus.ANSWERED:
        return SurveyAlreadyAnswered("this survey has already been answered")
    if status is SurveyStatus.CANCELLED:
        return SurveyWithdrawn("this survey was withdrawn and takes no answer", details={"reason": cancel_reason})
    return None
