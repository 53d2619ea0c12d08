"""A revocation as asked for and as recorded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketloop_shared.validation import STORABLE


class RevocationIn(BaseModel):
    """Revoke one token by its id (`jti`), or every token of a staff member issued until now (`sub`)."""

    model_config = ConfigDict(extra="forbid")

    jti: Annotated[str, Field(min_length=1, max_length=64), STORABLE] | None = None
    sub: Annotated[str, Field(min_length=1, max_length=100), STORABLE] | None = None
    reason: Annotated[str, Field(max_length=500), STORABLE] = ""

    @model_validator(mode="after")
    def _exactly_one_target(self) -> RevocationIn:
        if (self.jti is None) == (self.sub is None):
            raise ValueError("give exactly one of `jti` (one token) or `sub` (all of a member's tokens)")
        return self


class RevocationOut(BaseModel):
    """A recorded revocation; every service refuses the tokens it covers within seconds."""

    revocation_id: uuid.UUID
    jti: str | None
    sub: str | None
    issued_before: datetime | None
    expires_at: datetime
