"""HTTP shapes of surveys: what the customer sees and sends, what staff see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticketloop_feedback.surveys.domain import (
    COMMENT_MAX,
    CSAT_MAX,
    CSAT_MIN,
    NPS_MAX,
    NPS_MIN,
    SurveyStatus,
)
from ticketloop_shared.validation import STORABLE


class Question(BaseModel):
    """One question of the survey, described so any front end can render it."""

    id: str
    kind: Literal["scale", "text"]
    prompt: str
    required: bool
    min: int | None = None
    max: int | None = None
    max_length: int | None = None


QUESTIONS: tuple[Question, ...] = (
    Question(
        id="csat",
        kind="scale",
        prompt="How satisfied are you with how we handled your problem?",
        required=True,
        min=CSAT_MIN,
        max=CSAT_MAX,
    ),
    Question(
        id="nps",
        kind="scale",
        prompt="How likely are you to recommend us to a friend or colleague?",
        required=True,
        min=NPS_MIN,
        max=NPS_MAX,
    ),
    Question(
        id="comment",
        kind="text",
        prompt="Is there anything we could have done better?",
        required=False,
        max_length=COMMENT_MAX,
    ),
)


class SurveyAnswer(BaseModel):
    """The customer's answer; strict, so a mistyped score is refused rather than guessed at."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    csat: Annotated[int, Field(strict=True, ge=CSAT_MIN, le=CSAT_MAX)]
    nps: Annotated[int, Field(strict=True, ge=NPS_MIN, le=NPS_MAX)]
    comment: Annotated[str, Field(strict=True, max_length=COMMENT_MAX), STORABLE] | None = None

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None  # a blank comment is no comment


class PublicSurvey(BaseModel):
    """What the link shows the customer: nothing about them, only what they are asked."""

    status: SurveyStatus
    ticket_number: str
    expires_at: datetime
    questions: list[Question]


class AnswerOut(BaseModel):
    """An answer as recorded."""

    csat: int
    nps: int
    comment: str | None
    answered_at: datetime


class SurveyOut(BaseModel):
    """A ticket's survey as staff see it: status, delivery and, once given, the answer. Never
    the link or token: only the customer answers, through the link."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_number: str
    customer_id: str
    status: SurveyStatus
    created_at: datetime
    delivered_at: datetime | None
    expires_at: datetime
    answer: AnswerOut | None


class Delivery(BaseModel):
    """A survey link to send to its customer (for the notifier only)."""

    survey_id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_number: str
    customer_id: str
    link: Annotated[str, Field(description="The customer's credential: send it to them; do not log it.")]
    created_at: Annotated[datetime, Field(description="When the survey opened; the link is due from then.")]
    expires_at: Annotated[datetime, Field(description="After this the link takes no answer and leaves the list.")]


class DeliveryPage(BaseModel):
    """Links still to deliver, oldest first; pass `next_after` as `after` for the next page."""

    items: list[Delivery]
    next_after: uuid.UUID | None


class Delivered(BaseModel):
    """When the link was (first) reported delivered."""

    survey_id: uuid.UUID
    delivered_at: datetime
