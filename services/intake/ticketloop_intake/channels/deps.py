"""The dependency that authenticates a channel by its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from ticketloop_intake.channels import service
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_shared.api import SessionDep

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A registered channel client's key")


async def current_channel(
    request: Request, session: SessionDep, x_api_key: Annotated[str | None, Depends(_api_key)]
) -> ChannelClientView:
    """The channel client calling, from its `X-Api-Key`."""
    return await service.authenticate(
        session, x_api_key, cache_seconds=request.app.state.settings.channel_key_cache_seconds
    )


ChannelDep = Annotated[ChannelClientView, Depends(current_channel)]
