"""ORM model of files attached to customer messages and replies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class Attachment(Base):
    """One file that came with a timeline entry (a customer message or a reply). Its name and
    content are sealed with the customer's key, so destroying the key erases them; erasure also
    overwrites both in place, so not even the ciphertext stays."""

    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("timeline.id"), index=True)
    # Whose key seals it (and whose erasure removes it).
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    # The order the files were sent in, within their entry.
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[bytes] = mapped_column(LargeBinary)
    # Decided from the content (attachments/domain.py `sniff`), never from the name.
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
