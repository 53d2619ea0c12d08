"""All SQL about canned replies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.reply_templates.models import ReplyTemplate


async def get(session: AsyncSession, template_id: uuid.UUID, *, for_update: bool = False) -> ReplyTemplate | None:
    """One template; `for_update` locks it so its version is checked and bumped by one writer."""
    stmt = select(ReplyTemplate).where(ReplyTemplate.id == template_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def written(session: AsyncSession, template: ReplyTemplate) -> bool:
    """Write a new or changed template; False (nothing written) when its name is taken."""
    try:
        async with session.begin_nested():
            session.add(template)
            await session.flush()
    except IntegrityError as exc:
        if "uq_reply_templates_name" in str(exc.orig):
            return False
        raise
    return True


async def page(
    session: AsyncSession, *, category: str | None, active: bool | None, limit: int, offset: int
) -> tuple[Sequence[ReplyTemplate], int]:
    """A page of templates by name, and how many match (`category`: its own and general ones)."""
    where: list[ColumnElement[bool]] = []
    if category is not None:
        where.append(or_(ReplyTemplate.category == category, ReplyTemplate.category.is_(None)))
    if active is not None:
        where.append(ReplyTemplate.active.is_(active))
    total = await session.scalar(select(func.count()).select_from(ReplyTemplate).where(*where))
    rows = (
        await session.scalars(
            select(ReplyTemplate)
            .where(*where)
            .order_by(func.lower(ReplyTemplate.name), ReplyTemplate.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return rows, int(total or 0)


async def remove(session: AsyncSession, template_id: uuid.UUID) -> None:
    """Delete a template."""
    await session.execute(delete(ReplyTemplate).where(ReplyTemplate.id == template_id))
