"""The dependency that authenticates a channel by its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader

from ticketloop_intake.channels import service
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_shared.api import SessionDep
from ticketloop_shared.errors import Unauthorized
from ticketloop_shared.ratelimit import rate_limits

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A registered channel client's key")


async def current_channel(
    request: Request, response: Response, session: SessionDep, x_api_key: Annotated[str | None, Depends(_api_key)]
) -> ChannelClientView:
    """The channel client calling, from its `X-Api-Key`, within its rate limit (an address that
    keeps sending bad keys is refused with 429 before its next key is even looked up)."""
    limits = rate_limits(request)
    if limits is not None:
        limits.refuse_blocked_address(request)
    try:
        channel = await service.authenticate(
            session, x_api_key, cache_seconds=request.app.state.settings.channel_key_cache_seconds
        )
    except Unauthorized:
        if limits is not None:
            limits.failed_credentials(request)
        raise
    if limits is not None:
        limits.spend("channel", str(channel.id), response)
    return channel


ChannelDep = Annotated[ChannelClientView, Depends(current_channel)]
