"""HTTP shape of account managers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_routing.organisation.schemas import Slug


class AccountManagerIn(BaseModel):
    """The agent to be a customer's dedicated account manager."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Slug


class AccountManagerOut(BaseModel):
    """A customer's dedicated account manager: their tickets go to this agent first when they are
    high-value and the agent is available and below capacity."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: str
    agent_id: str
    set_at: datetime
    set_by: str
    version: int = Field(description="Also the `ETag`: send it back as `If-Match` to change or clear it.")


class AccountManagerPage(BaseModel):
    """One page of account managers, by customer id."""

    items: list[AccountManagerOut]
    total: int
    limit: int
    offset: int
