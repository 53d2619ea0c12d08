"""HTTP shapes of channel-client administration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

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
    version: int = Field(description="Also the `ETag`: send it back as `If-Match` to change the client or its keys.")


class ChannelClientCreated(ChannelClientOut):
    """The new client with its API key, shown this once only."""

    api_key: str


class ChannelKeyOut(BaseModel):
    """One of a client's keys (never the key itself)."""

    id: uuid.UUID
    state: Literal["valid", "expiring", "expired", "revoked"] = Field(
        description="`expiring`: replaced by a newer key, still accepted until `expires_at`."
    )
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="When last accepted, to within a minute or so.")


class ChannelClientDetail(ChannelClientOut):
    """A client with its keys, newest first."""

    keys: list[ChannelKeyOut]


class ChannelClientChange(BaseModel):
    """Deactivate a client (every key of it refused at once) or reactivate it."""

    model_config = ConfigDict(extra="forbid")

    active: bool


class KeyRotation(BaseModel):
    """A new key; the keys it replaces stay valid for the overlap (the setting's, by default)."""

    model_config = ConfigDict(extra="forbid")

    overlap_hours: float | None = Field(default=None, ge=0, le=30 * 24)


class KeyRotated(ChannelClientDetail):
    """The client after the rotation, with the new key, shown this once only."""

    api_key: str
    key_id: uuid.UUID
