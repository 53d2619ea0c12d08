"""HTTP shapes of survey templates: a question as any front end renders it, what admins send, what
staff and admins read back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_feedback.templates.domain import MAX_QUESTIONS, NPS_REASON_HIGH_FROM, PROMPT_MAX, TEXT_MAX, QuestionKind
from ticketloop_shared.events import SurveyKind
from ticketloop_shared.validation import STORABLE, BoundedInt

Prompt = Annotated[str, Field(min_length=1, max_length=PROMPT_MAX), STORABLE]


class QuestionBody(BaseModel):
    """One question of a template, described so any front end can render it."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            description="Unique in the template; `csat`, `nps`, "
            "`nps_reason`, `contact_ok` and the dimension names (`quality`, `response_speed`, "
            "`resolution`, `care`, `overall`) are the scores `feedback.received` reports",
        ),
        STORABLE,
    ]
    kind: QuestionKind
    prompt: Prompt
    required: bool = False
    min: BoundedInt | None = Field(default=None, description="A scale's lowest score")
    max: BoundedInt | None = Field(default=None, description="A scale's highest score")
    max_length: Annotated[int, Field(ge=1, le=TEXT_MAX)] | None = Field(
        default=None, description="A text question's longest answer, in characters"
    )
    prompt_when_high: Prompt | None = Field(
        default=None, description=f"`nps_reason` only: asked when the NPS is {NPS_REASON_HIGH_FROM} or more (why)"
    )
    prompt_when_low: Prompt | None = Field(
        default=None,
        description=f"`nps_reason` only: asked when the NPS is {NPS_REASON_HIGH_FROM - 1} or less (why not)",
    )


class TemplateIn(BaseModel):
    """A template's new content; the whole template is validated before anything is stored."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200), STORABLE]
    questions: Annotated[list[QuestionBody], Field(max_length=MAX_QUESTIONS * 2)]


class TemplateOut(BaseModel):
    """A template as it stands: the version new surveys are sent with (its version in `ETag`)."""

    id: str
    name: str
    version: int
    used_by: list[SurveyKind]
    questions: list[QuestionBody]
    updated_at: datetime
    updated_by: str


class TemplateList(BaseModel):
    """Every survey template."""

    items: list[TemplateOut]
