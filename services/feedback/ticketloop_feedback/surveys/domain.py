"""What a survey is allowed to be: its kinds and timing, its status, its template and how an answer
is checked against it, what counts as a low score, its token and link, and its errors. Pure."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ticketloop_shared.errors import Conflict, DomainError, NotFound, Unprocessable
from ticketloop_shared.events import Dimension, SurveyKind
from ticketloop_shared.vocabulary import Segment

CSAT_MIN, CSAT_MAX = 1, 5
NPS_MIN, NPS_MAX = 0, 10
DIMENSION_MIN, DIMENSION_MAX = 1, 10
# The NPS reason asks "why" from this score up and "why not" below it (SPEC §3).
NPS_REASON_HIGH_FROM = 7
COMMENT_MAX = 2000

TOKEN_BYTES = 24
# Anything else cannot be a token we issued, so it is answered 404 without a query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# Which template each kind of survey asks.
TICKET_TEMPLATE = "ticket"
RELATIONSHIP_TEMPLATE = "relationship"
TEMPLATE_FOR_KIND: Mapping[SurveyKind, str] = {
    SurveyKind.TICKET: TICKET_TEMPLATE,
    SurveyKind.ONBOARDING: RELATIONSHIP_TEMPLATE,
    SurveyKind.QUARTERLY: RELATIONSHIP_TEMPLATE,
}
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


# --- templates --------------------------------------------------------------------------------


class QuestionKind(StrEnum):
    """How a question is answered: a score on a scale, free text, or yes/no."""

    SCALE = "scale"
    TEXT = "text"
    YES_NO = "yes_no"


@dataclass(frozen=True)
class Question:
    """One question of a template, as stored and rendered."""

    id: str
    kind: QuestionKind
    prompt: str
    required: bool = False
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    # The NPS reason only: what is asked from NPS_REASON_HIGH_FROM up ("why") and below ("why not").
    prompt_when_high: str | None = None
    prompt_when_low: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored form (fields that do not apply left out)."""
        stored: dict[str, Any] = {"id": self.id, "kind": self.kind.value, "prompt": self.prompt}
        stored["required"] = self.required
        for name in ("min", "max", "max_length", "prompt_when_high", "prompt_when_low"):
            value = getattr(self, name)
            if value is not None:
                stored[name] = value
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Question:
        """A question from its stored form."""
        return cls(**{**stored, "kind": QuestionKind(stored["kind"])})


@dataclass(frozen=True)
class Template:
    """One version of a survey template: what its surveys ask, and which answers are required."""

    id: str
    version: int
    name: str
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question | None:
        """The question with this id, if the template asks it."""
        return next((q for q in self.questions if q.id == question_id), None)


# Question ids with a meaning beyond the template: they feed `feedback.received` and the low-score
# rule, so their kind and scale are fixed by the event contract.
CSAT, NPS, NPS_REASON, CONTACT_OK = "csat", "nps", "nps_reason", "contact_ok"
FIXED_SCALES: Mapping[str, tuple[int, int]] = {
    CSAT: (CSAT_MIN, CSAT_MAX),
    NPS: (NPS_MIN, NPS_MAX),
    **{d.value: (DIMENSION_MIN, DIMENSION_MAX) for d in Dimension},
}
FIXED_KINDS: Mapping[str, QuestionKind] = {
    **dict.fromkeys(FIXED_SCALES, QuestionKind.SCALE),
    NPS_REASON: QuestionKind.TEXT,
    CONTACT_OK: QuestionKind.YES_NO,
}
QUESTION_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_QUESTIONS = 30
PROMPT_MAX = 500
TEXT_MAX = 5000
# A custom scale must fit one row of buttons.
SCALE_LOWEST, SCALE_HIGHEST = 0, 10


def validate_template(questions: Sequence[Question]) -> list[tuple[str, str]]:
    """Every reason the questions cannot make a survey, as (field, reason); empty when they can.

    A template must stay renderable and its answers reportable: unique ids, sane scale bounds,
    the contract's fixed scales for the scores `feedback.received` carries, the NPS reason only
    beside an NPS question.
    """
    problems: list[tuple[str, str]] = []
    if not questions:
        problems.append(("questions", "a template asks at least one question"))
    if len(questions) > MAX_QUESTIONS:
        problems.append(("questions", f"a template asks at most {MAX_QUESTIONS} questions"))
    seen: set[str] = set()
    ids = {q.id for q in questions}
    for i, q in enumerate(questions):
        at = f"questions[{i}]"
        if not QUESTION_ID.fullmatch(q.id):
            problems.append((f"{at}.id", "an id is 1-40 lower-case letters, digits or _, starting with a letter"))
        if q.id in seen:
            problems.append((f"{at}.id", f"id {q.id!r} is used twice"))
        seen.add(q.id)
        if not q.prompt.strip():
            problems.append((f"{at}.prompt", "a question needs a prompt"))
        fixed_kind = FIXED_KINDS.get(q.id)
        if fixed_kind is not None and q.kind is not fixed_kind:
            problems.append((f"{at}.kind", f"{q.id!r} is a {fixed_kind.value} question"))
        problems.extend(_kind_problems(q, at))
        if q.id in FIXED_SCALES and q.kind is QuestionKind.SCALE and (q.min, q.max) != FIXED_SCALES[q.id]:
            low, high = FIXED_SCALES[q.id]
            problems.append((f"{at}.min", f"{q.id!r} is scored {low}-{high}"))
        reason_prompts = (q.prompt_when_high, q.prompt_when_low)
        if q.id == NPS_REASON:
            if NPS not in ids:
                problems.append((f"{at}.id", "the NPS reason needs an 'nps' question in the same template"))
            if not all(p and p.strip() for p in reason_prompts):
                problems.append((f"{at}.prompt_when_high", "the NPS reason needs both the 'why' and 'why not' prompt"))
        elif any(p is not None for p in reason_prompts):
            problems.append((f"{at}.prompt_when_high", "only 'nps_reason' has prompts by score"))
    return problems


def _kind_problems(q: Question, at: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if q.kind is QuestionKind.SCALE:
        if q.min is None or q.max is None:
            problems.append((f"{at}.min", "a scale needs min and max"))
        elif not SCALE_LOWEST <= q.min < q.max <= SCALE_HIGHEST:
            problems.append(
                (f"{at}.min", f"a scale runs from min to a greater max, within {SCALE_LOWEST}-{SCALE_HIGHEST}")
            )
    elif q.min is not None or q.max is not None:
        problems.append((f"{at}.min", "only a scale has min and max"))
    if q.kind is QuestionKind.TEXT:
        if q.max_length is None or not 1 <= q.max_length <= TEXT_MAX:
            problems.append((f"{at}.max_length", f"a text question takes 1-{TEXT_MAX} characters"))
    elif q.max_length is not None:
        problems.append((f"{at}.max_length", "only a text question has max_length"))
    return problems


def nps_reason_prompt(question: Question, nps: int | None) -> str:
    """The NPS reason's prompt for this score: "why" from 7 up, "why not" at 6 or less."""
    if nps is None:
        return question.prompt
    chosen = question.prompt_when_high if nps >= NPS_REASON_HIGH_FROM else question.prompt_when_low
    return chosen or question.prompt


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


def new_token() -> str:
    """The secret that stands in for a login, so it must be unguessable."""
    return secrets.token_urlsafe(TOKEN_BYTES)


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


class TemplateNotFound(NotFound):
    """No template with this id (templates are the ones surveys ask; none are added by hand)."""

    code = "template_not_found"


class InvalidTemplate(Unprocessable):
    """The template could not be rendered or reported; `details` names every field and reason."""

    code = "invalid_template"
