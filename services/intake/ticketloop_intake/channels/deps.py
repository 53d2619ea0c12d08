"""The dependency that authenticates a channel by its API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ticketloop_intake.channels import service
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.unit import SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import Principal, principal_of, staff_only
from ticketloop_shared.errors import Unauthorized
from ticketloop_shared.ratelimit import presented_key, rate_limits

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A registered channel client's key")


async def current_channel(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    x_api_key: Annotated[str | None, Depends(_api_key)],
) -> ChannelClientView:
    """The channel client calling, from its `X-Api-Key`, within its rate limit. A refused key
    counts against the caller's address and against the key itself (429 past either limit); a
    valid key is always accepted, whoever else failed from its address."""
    limits = rate_limits(request)
    try:
        channel = await service.authenticate(
            session, x_api_key, now=runtime.clock.now(), cache_seconds=settings.channel_key_cache_seconds
        )
    except Unauthorized:
        if limits is not None:
            limits.failed_credentials(request, presented_key("api_key", x_api_key or ""))
        raise
    if limits is not None:
        limits.spend("channel", str(channel.id), response)
    return channel


ChannelDep = Annotated[ChannelClientView, Depends(current_channel)]


# The staff bearer scheme again (same name and description as `ticketloop_shared.auth`'s), for
# endpoints a channel or a staff member may call: OpenAPI lists the two as alternatives.
_staff_bearer = HTTPBearer(
    auto_error=False,
    description="A staff or notifier token: `ticketloop token --role agent|supervisor|admin|notifier`",
)


async def channel_or_staff(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    x_api_key: Annotated[str | None, Depends(_api_key)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_staff_bearer)],
) -> ChannelClientView | Principal:
    """The calling channel client (when `X-Api-Key` is sent) or else the staff member."""
    if x_api_key is not None:
        return await current_channel(request, response, session, settings, runtime, x_api_key)
    if credentials is None and not request.headers.get("authorization"):
        raise Unauthorized(
            "send X-Api-Key (a channel client) or Authorization: Bearer <token> (staff)", code="missing_credentials"
        )
    return staff_only(principal_of(request, response, credentials))


ChannelOrStaff = Annotated[ChannelClientView | Principal, Depends(channel_or_staff)]
