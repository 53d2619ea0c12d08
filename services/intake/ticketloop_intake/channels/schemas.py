"""HTTP shapes of channel-client administration."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_shared.validation import Text
from ticketloop_shared.vocabulary import Channel


class ChannelClientCreate(BaseModel):
    """Register a client allowed to report on the listed channels."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    channels: list[Channel] = Field(min_length=1)


class ChannelClientOut(BaseModel):
    """A registered client (never its key)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    channels: list[str]
    active: bool
    created_at: datetime


class ChannelClientCreated(ChannelClientOut):
    """The new client with its API key, shown this once only."""

    api_key: str
