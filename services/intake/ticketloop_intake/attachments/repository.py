"""All SQL about attached files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.attachments.models import Attachment


@dataclass(frozen=True)
class Listed:
    """An attachment without its content, to list on its timeline entry."""

    id: uuid.UUID
    entry_id: uuid.UUID
    filename: bytes
    content_type: str
    size: int
    erased: bool


def add(session: AsyncSession, attachment: Attachment) -> None:
    """Stage a new attachment."""
    session.add(attachment)


async def of_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[Listed]:
    """A ticket's attachments without their content, in the order they were sent."""
    rows = await session.execute(
        select(
            Attachment.id,
            Attachment.entry_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
            Attachment.erased_at,
        )
        .where(Attachment.ticket_id == ticket_id)
        .order_by(Attachment.created_at, Attachment.position)
    )
    return [
        Listed(
            id=r.id,
            entry_id=r.entry_id,
            filename=r.filename,
            content_type=r.content_type,
            size=r.size,
            erased=r.erased_at is not None,
        )
        for r in rows
    ]


async def get(session: AsyncSession, ticket_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment | None:
    """One attachment of this ticket, with its content."""
    return await session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.ticket_id == ticket_id)
    )


async def erase_customer(session: AsyncSession, customer_id: str, *, erased: bytes, now: datetime) -> int:
    """Overwrite the names and contents of the customer's attachments with `erased`; how many."""
    result = await session.execute(
        update(Attachment)
        .where(Attachment.customer_id == customer_id, Attachment.erased_at.is_(None))
        .values(filename=erased, content=erased, erased_at=now)
        .returning(Attachment.id)
    )
    return len(result.all())


async def erase_tickets(session: AsyncSession, ticket_ids: Sequence[uuid.UUID], *, erased: bytes, now: datetime) -> int:
    """Overwrite the names and contents of these tickets' attachments with `erased`; how many."""
    result = await session.execute(
        update(Attachment)
        .where(Attachment.ticket_id.in_(ticket_ids), Attachment.erased_at.is_(None))
        .values(filename=erased, content=erased, erased_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
