"""The rules of survey templates: reading the current or a pinned version, and replacing a template
with a new version, validated whole (audited). Surveys ask these templates; this feature knows
nothing of surveys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.db import audit
from ticketloop_feedback.templates import repository
from ticketloop_feedback.templates.domain import (
    InvalidTemplate,
    Question,
    Template,
    TemplateNotFound,
    validate_template,
)
from ticketloop_feedback.templates.models import SurveyTemplateRow, SurveyTemplateVersion
from ticketloop_feedback.unit import FeedbackUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import etag
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import PreconditionFailed


def _template_of(version: SurveyTemplateVersion) -> Template:
    """The domain template a stored version holds."""
    return Template(
        id=version.template_id,
        version=version.version,
        name=version.name,
        questions=tuple(Question.from_json(q) for q in version.questions),
    )


async def current_version(session: AsyncSession, template_id: str) -> int | None:
    """The version new surveys of this template are sent with; None for an unknown template."""
    row = await repository.template(session, template_id)
    return None if row is None else row.version


async def pinned(session: AsyncSession, template_id: str, number: int) -> Template | None:
    """One version of a template, as a survey sent with it asks it (versions are never deleted)."""
    stored = await repository.template_version(session, template_id, number)
    return None if stored is None else _template_of(stored)


async def template(session: AsyncSession, template_id: str) -> tuple[SurveyTemplateRow, Template]:
    """A template with its current version."""
    row = await repository.template(session, template_id)
    if row is None:
        raise TemplateNotFound(f"no survey template {template_id!r}")
    stored = await repository.template_version(session, template_id, row.version)
    assert stored is not None
    return row, _template_of(stored)


async def all_templates(session: AsyncSession) -> list[tuple[SurveyTemplateRow, Template]]:
    """Every template with its current version."""
    return [(row, _template_of(version)) for row, version in await repository.templates(session)]


async def put_template(
    uow: FeedbackUnit,
    template_id: str,
    *,
    name: str,
    questions: Sequence[Question],
    by: Principal,
    if_match: int,
) -> tuple[SurveyTemplateRow, Template]:
    """Replace a template with a new version, validated whole; surveys already sent keep the
    version they were sent with, surveys sent from now on ask this one."""
    session, now = uow.session, uow.now()
    row = await repository.template(session, template_id, lock=True)
    if row is None:
        raise TemplateNotFound(f"no survey template {template_id!r}")
    if if_match != row.version:
        raise PreconditionFailed(
            f"the template changed since version {if_match}",
            code="template_changed",
            details={"expected_version": if_match, "current_version": row.version, "current_etag": etag(row.version)},
        )
    problems = validate_template(questions)
    if problems:
        raise InvalidTemplate(
            f"template {template_id!r} is not valid: {problems[0][0]}: {problems[0][1]}",
            details=[{"field": f, "reason": r} for f, r in problems],
        )
    version = row.version + 1
    session.add(
        SurveyTemplateVersion(
            template_id=template_id,
            version=version,
            name=name,
            questions=[q.as_json() for q in questions],
            created_at=now,
            created_by=by.sub,
        )
    )
    row.name, row.version, row.updated_at, row.updated_by = name, version, now, by.sub
    await session.flush()
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="survey_template.changed",
        subject=f"survey_template:{template_id}",
        details={"version": version},
    )
    return row, Template(id=template_id, version=version, name=name, questions=tuple(questions))
