"""What a survey template is allowed to be: its questions and their kinds, the scores whose scales
the event contract fixes, which template each kind of survey asks, and the template errors. Pure;
surveys check answers against these templates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ticketloop_shared.errors import NotFound, Unprocessable
from ticketloop_shared.events import Dimension, SurveyKind

CSAT_MIN, CSAT_MAX = 1, 5
NPS_MIN, NPS_MAX = 0, 10
DIMENSION_MIN, DIMENSION_MAX = 1, 10
# The NPS reason asks "why" from this score up and "why not" below it (SPEC §3).
NPS_REASON_HIGH_FROM = 7

# Which template each kind of survey asks.
TICKET_TEMPLATE = "ticket"
RELATIONSHIP_TEMPLATE = "relationship"
TEMPLATE_FOR_KIND: Mapping[SurveyKind, str] = {
    SurveyKind.TICKET: TICKET_TEMPLATE,
    SurveyKind.ONBOARDING: RELATIONSHIP_TEMPLATE,
    SurveyKind.QUARTERLY: RELATIONSHIP_TEMPLATE,
}


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


# --- errors -----------------------------------------------------------------------------------


class TemplateNotFound(NotFound):
    """No template with this id (templates are the ones surveys ask; none are added by hand)."""

    code = "template_not_found"


class InvalidTemplate(Unprocessable):
    """The template could not be rendered or reported; `details` names every field and reason."""

    code = "invalid_template"
