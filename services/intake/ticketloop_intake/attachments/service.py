"""Files attached to a customer's message or an agent's reply: checked (type from the content,
size and count limits), stored sealed with the customer's key in a table of their own, listed
on their timeline entry, downloaded by whoever may read the ticket, and erased with the
customer's other personal data. Who may read which ticket is tickets' business: it calls here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.attachments import domain, repository
from ticketloop_intake.attachments.domain import Checked as Checked
from ticketloop_intake.attachments.models import Attachment
from ticketloop_intake.attachments.schemas import AttachmentIn
from ticketloop_intake.customers.service import (
    ERASED,
    ERASED_VALUE,
    key_for_sealing,
    keys_for_opening,
    open_blob,
    open_field,
    seal_blob,
    seal_field,
)
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.errors import Gone, NotFound
from ticketloop_shared.ids import new_id

_NAME, _CONTENT = "attachment_name", "attachment"


@dataclass(frozen=True)
class Listed:
    """An attachment as its timeline entry lists it (the name opened, or `[erased]`)."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Download:
    """An attachment's content, opened, with the name and type it is served under."""

    filename: str
    content_type: str
    content: bytes


def limits(settings: IntakeSettings) -> domain.Limits:
    """The configured limits."""
    return domain.Limits(
        max_bytes=settings.attachment_max_bytes,
        max_count=settings.attachment_max_count,
        max_total_bytes=settings.attachment_max_total_bytes,
    )


def check(files: Sequence[AttachmentIn], settings: IntakeSettings) -> list[Checked]:
    """Every file checked against the rules (`domain.check`), before anything is stored."""
    incoming = [domain.Incoming(filename=f.filename, content_base64=f.content_base64) for f in files]
    return domain.check(incoming, limits(settings))


async def store(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, entry_id: uuid.UUID, customer_id: str, files: Sequence[Checked]
) -> list[uuid.UUID]:
    """Seal and stage checked files with their timeline entry (same transaction); their ids."""
    if not files:
        return []
    key = await key_for_sealing(uow, customer_id)
    ids = []
    for position, file in enumerate(files):
        attachment = Attachment(
            id=new_id(),
            ticket_id=ticket_id,
            entry_id=entry_id,
            customer_id=customer_id,
            position=position,
            filename=seal_field(key, customer_id, _NAME, file.filename),
            content_type=file.content_type,
            size=file.size,
            content=seal_blob(key, customer_id, _CONTENT, file.content),
            created_at=uow.now(),
        )
        repository.add(uow.session, attachment)
        ids.append(attachment.id)
    return ids


async def of_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, *, customer_id: str, key: bytes | None
) -> Mapping[uuid.UUID, Sequence[Listed]]:
    """A ticket's attachments by timeline entry, names opened with the customer's `key`."""
    found: dict[uuid.UUID, list[Listed]] = {}
    for row in await repository.of_ticket(session, ticket_id):
        name = None if row.erased else open_field(key, customer_id, _NAME, row.filename)
        found.setdefault(row.entry_id, []).append(
            Listed(id=row.id, filename=name or ERASED, content_type=row.content_type, size=row.size)
        )
    return found


async def download(
    session: AsyncSession, settings: IntakeSettings, *, ticket_id: uuid.UUID, attachment_id: uuid.UUID
) -> Download:
    """One attachment of the ticket, opened; 404 `attachment_not_found` (none such on this
    ticket), 410 `attachment_erased` (the customer's data was erased)."""
    attachment = await repository.get(session, ticket_id, attachment_id)
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id} on ticket {ticket_id}", code="attachment_not_found")
    cid = attachment.customer_id
    key = (await keys_for_opening(session, [cid], settings))[cid]
    content = None if attachment.erased_at else open_blob(key, cid, _CONTENT, attachment.content)
    filename = open_field(key, cid, _NAME, attachment.filename)
    if content is None or filename is None:
        raise Gone("the customer's personal data was erased, with this file", code="attachment_erased")
    return Download(filename=filename, content_type=attachment.content_type, content=content)


async def erase_customer(session: AsyncSession, customer_id: str, *, now: datetime) -> int:
    """Overwrite the customer's attachments (names and contents) in place, beyond destroying
    their key: not even the ciphertext stays. How many were erased."""
    return await repository.erase_customer(session, customer_id, erased=ERASED_VALUE, now=now)


async def erase_tickets(session: AsyncSession, ticket_ids: Sequence[uuid.UUID], *, now: datetime) -> int:
    """Overwrite the names and contents of these tickets' files (retention: their tickets' texts
    are past their limit); how many were erased."""
    return await repository.erase_tickets(session, ticket_ids, erased=ERASED_VALUE, now=now)
