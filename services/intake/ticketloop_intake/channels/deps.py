"""The dependency that authenticates a channel by its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from ticketloop_intake.channels import service
from ticketloop_intake.channels.models import ChannelClient
from ticketloop_shared.api import SessionDep


async def current_channel(
    session: SessionDep, x_api_key: Annotated[str | None, Header(max_length=200)] = None
) -> ChannelClient:
    """The channel client calling, from its `X-Api-Key`."""
    return await service.authenticate(session, x_api_key)


ChannelDep = Annotated[ChannelClient, Depends(current_channel)]
