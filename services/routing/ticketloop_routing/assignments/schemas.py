"""HTTP shape of an assignment."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AssignmentOut(BaseModel):
    """Who owns a ticket, and whether it is still open."""

    model_config = ConfigDict(from_attributes=True)

    ticket_id: uuid.UUID
    ticket_number: str | None
    category: str | None
    department_id: str | None
    agent_id: str | None
    assigned_at: datetime | None
    closed_at: datetime | None
