"""HTTP: administrators register channel clients."""

from __future__ import annotations

from fastapi import APIRouter

from ticketloop_intake.channels import repository, service
from ticketloop_intake.channels.schemas import ChannelClientCreate, ChannelClientCreated, ChannelClientOut
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentAdmin

router = APIRouter(prefix="/v1/channel-clients", tags=["channel clients"])


@router.post(
    "",
    status_code=201,
    response_model=ChannelClientCreated,
    responses={409: {"description": "A client with this name exists (`channel_client_exists`)"}},
)
async def register_client(body: ChannelClientCreate, session: SessionDep, _: CurrentAdmin) -> ChannelClientCreated:
    """Register a channel client; the response holds its API key, shown only here."""
    client, api_key = await service.register(session, name=body.name, channels=[c.value for c in body.channels])
    return ChannelClientCreated(**ChannelClientOut.model_validate(client).model_dump(), api_key=api_key)


@router.get("", response_model=list[ChannelClientOut])
async def list_clients(session: SessionDep, _: CurrentAdmin) -> list[ChannelClientOut]:
    """Every registered client."""
    return [ChannelClientOut.model_validate(c) for c in await repository.list_all(session)]
