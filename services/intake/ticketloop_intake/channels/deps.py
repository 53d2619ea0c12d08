"""The dependency that authenticates a channel by its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader

from ticketloop_intake.channels import service
from ticketloop_intake.channels.models import ChannelClient
from ticketloop_shared.api import SessionDep

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A registered channel client's key")


async def current_channel(session: SessionDep, x_api_key: Annotated[str | None, Depends(_api_key)]) -> ChannelClient:
    """The channel client calling, from its `X-Api-Key`."""
    return await service.authenticate(session, x_api_key)


ChannelDep = Annotated[ChannelClient, Depends(current_channel)]
