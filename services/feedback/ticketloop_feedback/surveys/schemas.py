"""HTTP shapes of surveys: what the customer sees and sends, what staff see, what the delivery
system fetches (templates' shapes are `templates.schemas`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel

from ticketloop_feedback.surveys.domain import SurveyStatus
from ticketloop_feedback.templates.schemas import QuestionBody
from ticketloop_shared.events import SurveyKind


class PublicQuestion(QuestionBody):
    """A question as the customer's page renders it; for the NPS reason, `high_from` says which of
    its two prompts applies to the NPS given."""

    high_from: int | None = Field(
        default=None, description="`nps_reason` only: `prompt_when_high` applies from this NPS up, else the low one"
    )


class SurveyAnswer(RootModel[Annotated[dict[Annotated[str, Field(max_length=100)], JsonValue], Field(max_length=50)]]):
    """The customer's answer: a value for each question answered, by question id (a whole number
    for a scale, text, true/false for yes/no). It is checked against the survey's template,
    strictly: nothing is coerced, and a question the survey does not ask is refused."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"csat": 4, "comment": "Quick and kind, thank you"}]},
    )


class PublicSurvey(BaseModel):
    """What the link shows the customer: nothing about them, only what they are asked."""

    status: SurveyStatus
    kind: SurveyKind
    ticket_number: str | None
    expires_at: datetime
    template_id: str
    template_version: int
    questions: list[PublicQuestion]


class AnswerOut(BaseModel):
    """An answer as recorded."""

    answers: dict[str, int | bool | str]
    answered_at: datetime
    nps_reason_prompt: str | None = Field(
        default=None, description="The NPS reason's prompt that applied to the NPS given (why / why not)"
    )


class SurveyOut(BaseModel):
    """A survey as staff see it: kind, status, timing, delivery and, once given, the answer. Never
    the link or token: only the customer answers, through the link."""

    id: uuid.UUID
    kind: SurveyKind
    template_id: str
    template_version: int | None = Field(description="Pinned when sent")
    ticket_id: uuid.UUID | None
    ticket_number: str | None
    customer_id: str
    status: SurveyStatus
    channel: str | None
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    reminded_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    expires_at: datetime
    answer: AnswerOut | None


class SurveyPage(BaseModel):
    """Surveys oldest first; pass `next_after` as `after` for the next page."""

    items: list[SurveyOut]
    next_after: uuid.UUID | None


class Delivery(BaseModel):
    """A survey link to send to its customer (for the notifier only)."""

    survey_id: uuid.UUID
    kind: SurveyKind
    ticket_id: uuid.UUID | None
    ticket_number: str | None
    customer_id: str
    channel: str | None = Field(description="The customer's preferred channel (null: the delivery system's default)")
    reminder: bool = Field(description="This is the survey's one reminder: the link was sent before")
    link: Annotated[str, Field(description="The customer's credential: send it to them; do not log it.")]
    created_at: Annotated[datetime, Field(description="When the survey was created (scheduled).")]
    sent_at: Annotated[datetime, Field(description="When the survey fell due; the link is due from then.")]
    expires_at: Annotated[datetime, Field(description="After this the link takes no answer and leaves the list.")]


class DeliveryPage(BaseModel):
    """Links still to deliver, oldest first; pass `next_after` as `after` for the next page."""

    items: list[Delivery]
    next_after: uuid.UUID | None


class Delivered(BaseModel):
    """When the link was (first) reported delivered, and its reminder if there was one."""

    survey_id: uuid.UUID
    delivered_at: datetime
    reminder_delivered_at: datetime | None = None
