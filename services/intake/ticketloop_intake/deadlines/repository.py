"""All SQL of intake's copy of sla's rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.deadlines.models import SlaCalendarCopy, SlaPolicyCopy

Copy = type[SlaPolicyCopy] | type[SlaCalendarCopy]


async def keep(
    session: AsyncSession,
    model: Copy,
    *,
    key: str,
    version: int,
    rules_version: int,
    deleted: bool,
    definition: dict[str, Any],
) -> bool:
    """Store a publication unless as new a version is stored already; returns whether it was."""
    values = {
        "id": key,
        "version": version,
        "rules_version": rules_version,
        "deleted": deleted,
        "definition": definition,
    }
    stmt = insert(model).values(values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[model.id],
        set_={k: stmt.excluded[k] for k in ("version", "rules_version", "deleted", "definition")},
        # The same version again (sla republishes at start) refreshes nothing but does no harm.
        where=model.version <= stmt.excluded.version,
    ).returning(model.id)
    return (await session.execute(upsert)).first() is not None


async def version(session: AsyncSession) -> int:
    """What the copies' version is: the newest sla rules version stored (a cheap check)."""
    policies = await session.scalar(select(func.coalesce(func.max(SlaPolicyCopy.rules_version), 0)))
    calendars = await session.scalar(select(func.coalesce(func.max(SlaCalendarCopy.rules_version), 0)))
    return max(int(policies or 0), int(calendars or 0))


async def policies(session: AsyncSession) -> Sequence[SlaPolicyCopy]:
    """Every policy sla has published and not deleted."""
    return (await session.scalars(select(SlaPolicyCopy).where(SlaPolicyCopy.deleted.is_(False)))).all()


async def calendars(session: AsyncSession) -> Sequence[SlaCalendarCopy]:
    """Every calendar sla has published and not deleted."""
    return (await session.scalars(select(SlaCalendarCopy).where(SlaCalendarCopy.deleted.is_(False)))).all()
