"""HTTP: files attached to a ticket's messages and replies, downloaded by its department's staff
(or an admin) and by the channel client that created the ticket. Always as a download of the
type checked from the content, never rendered by the browser in the API's origin."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ticketloop_intake.attachments.domain import EXTENSIONS, content_disposition
from ticketloop_intake.attachments.service import Download
from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.tickets import service
from ticketloop_intake.unit import SettingsDep
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentStaff

router = APIRouter(tags=["attachments"])

_FILE: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The file, as a download (`Content-Disposition: attachment`), of the type checked from "
        "its content",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(EXTENSIONS)},
    },
    404: {"description": "Unknown ticket (`ticket_not_found`) or no such file on it (`attachment_not_found`)"},
    410: {"description": "The customer's personal data was erased, this file with it (`attachment_erased`)"},
}


def _served(file: Download) -> Response:
    return Response(
        content=file.content,
        media_type=file.content_type,
        headers={
            "Content-Disposition": content_disposition(file.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            # Opened in the browser anyway, the file runs nothing and reaches nothing.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get(
    "/v1/tickets/{ticket_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={**_FILE, 403: {"description": "Not your department's ticket (`not_your_department`)"}},
)
async def download_attachment(
    ticket_id: uuid.UUID, attachment_id: uuid.UUID, session: SessionDep, settings: SettingsDep, staff: CurrentStaff
) -> Response:
    """A file sent with a customer message or a reply, for the staff who may read the ticket."""
    file = await service.attachment(session, settings, ticket_id=ticket_id, attachment_id=attachment_id, staff=staff)
    return _served(file)


@router.get("/v1/channel/tickets/{ticket_id}/attachments/{attachment_id}", response_class=Response, responses=_FILE)
async def download_own_attachment(
    ticket_id: uuid.UUID, attachment_id: uuid.UUID, session: SessionDep, settings: SettingsDep, client: ChannelDep
) -> Response:
    """A file on a ticket this channel client created (another client's ticket is `ticket_not_found`)."""
    file = await service.attachment(
        session, settings, ticket_id=ticket_id, attachment_id=attachment_id, channel_client_id=client.id
    )
    return _served(file)
