"""All SQL about survey templates and their versions."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.templates.models import SurveyTemplateRow, SurveyTemplateVersion


async def templates(session: AsyncSession) -> list[tuple[SurveyTemplateRow, SurveyTemplateVersion]]:
    """Every template with its current version, by id."""
    rows = await session.execute(
        select(SurveyTemplateRow, SurveyTemplateVersion)
        .join(
            SurveyTemplateVersion,
            and_(
                SurveyTemplateVersion.template_id == SurveyTemplateRow.id,
                SurveyTemplateVersion.version == SurveyTemplateRow.version,
            ),
        )
        .order_by(SurveyTemplateRow.id)
    )
    return [(row, version) for row, version in rows]


async def template(session: AsyncSession, template_id: str, *, lock: bool = False) -> SurveyTemplateRow | None:
    """A template's row; `lock` holds it until the transaction ends (one edit at a time)."""
    stmt = select(SurveyTemplateRow).where(SurveyTemplateRow.id == template_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def template_version(session: AsyncSession, template_id: str, version: int) -> SurveyTemplateVersion | None:
    """One version of a template."""
    return await session.get(SurveyTemplateVersion, (template_id, version))
