"""What a browser receives: one notification, as the `data:` of a server-sent event."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ticketloop_workspace.notifications.domain import Kind, Notification


class NotificationOut(BaseModel):
    """A notification as the page's script reads it (ids and short titles only, never a
    customer's words: those stay behind the ticket page)."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Kind
    ticket_id: UUID | None
    ticket_number: str | None
    title: str
    at: datetime
    department_id: str | None

    @classmethod
    def of(cls, note: Notification) -> NotificationOut:
        """The public face of a notification."""
        return cls(
            id=note.id,
            kind=note.kind,
            ticket_id=note.ticket_id,
            ticket_number=note.ticket_number,
            title=note.title,
            at=note.at,
            department_id=note.department_id,
        )
