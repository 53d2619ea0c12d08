"""HTTP: administrators register channel clients, rotate and revoke their keys, and deactivate
or reactivate them; every change is audited and names the version read (`If-Match`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Response

from ticketloop_intake.channels import repository, service
from ticketloop_intake.channels.models import ChannelKey
from ticketloop_intake.channels.schemas import (
    ChannelClientChange,
    ChannelClientCreate,
    ChannelClientCreated,
    ChannelClientDetail,
    ChannelClientOut,
    ChannelKeyOut,
    KeyRotated,
    KeyRotation,
)
from ticketloop_intake.channels.service import ClientWithKeys
from ticketloop_intake.unit import SettingsDep
from ticketloop_shared.api import IfMatchRequired, RuntimeDep, SessionDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin

router = APIRouter(prefix="/v1/channel-clients", tags=["channel clients"])

_errors: dict[int | str, dict[str, object]] = {
    404: {"description": "No such client, or key (`channel_client_not_found`, `channel_key_not_found`)"},
    412: {"description": "The client changed since the `If-Match` version (`channel_client_changed`)"},
    428: {"description": "`If-Match` is missing (`if_match_required`)"},
}


def _key_out(key: ChannelKey, now: datetime) -> ChannelKeyOut:
    if key.revoked_at is not None:
        state = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        state = "expired"
    elif key.expires_at is not None:
        state = "expiring"
    else:
        state = "valid"
    return ChannelKeyOut(
        id=key.id,
        state=state,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


def _detail(found: ClientWithKeys, now: datetime, response: Response) -> ChannelClientDetail:
    response.headers["ETag"] = f'"{found.client.version}"'
    return ChannelClientDetail(
        **ChannelClientOut.model_validate(found.client).model_dump(), keys=[_key_out(k, now) for k in found.keys]
    )


@router.post(
    "",
    status_code=201,
    response_model=ChannelClientCreated,
    responses={409: {"description": "A client with this name exists (`channel_client_exists`)"}},
)
async def register_client(
    body: ChannelClientCreate, session: SessionDep, admin: CurrentAdmin, response: Response
) -> ChannelClientCreated:
    """Register a channel client (audited); the response holds its API key, shown only here."""
    client, api_key = await service.register(
        session, name=body.name, channels=[c.value for c in body.channels], by=admin
    )
    response.headers["ETag"] = f'"{client.version}"'
    return ChannelClientCreated(**ChannelClientOut.model_validate(client).model_dump(), api_key=api_key)


@router.get("", response_model=list[ChannelClientOut])
async def list_clients(session: SessionDep, _: CurrentAdmin) -> list[ChannelClientOut]:
    """Every registered client."""
    return [ChannelClientOut.model_validate(c) for c in await repository.list_all(session)]


@router.get("/{client_id}", response_model=ChannelClientDetail, responses=_errors)
async def read_client(
    client_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _: CurrentAdmin, response: Response
) -> ChannelClientDetail:
    """One client with its keys (state, expiry, last use); its `ETag` is the version to send back
    as `If-Match` when changing it."""
    return _detail(await service.read(session, client_id), runtime.clock.now(), response)


@router.patch("/{client_id}", response_model=ChannelClientDetail, responses=_errors)
async def change_client(
    client_id: uuid.UUID,
    body: ChannelClientChange,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: CurrentAdmin,
    response: Response,
    if_match: IfMatchRequired,
) -> ChannelClientDetail:
    """Deactivate a client (`"active": false`: every key of it is refused, everywhere within about
    a second) or reactivate it (its keys still valid work again); audited."""
    found = await service.set_active(
        session, client_id=client_id, active=body.active, version=if_match_version(if_match), by=admin
    )
    return _detail(found, runtime.clock.now(), response)


@router.post("/{client_id}/keys", status_code=201, response_model=KeyRotated, responses=_errors)
async def rotate_key(
    client_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    admin: CurrentAdmin,
    response: Response,
    if_match: IfMatchRequired,
    body: KeyRotation | None = None,
) -> KeyRotated:
    """Rotate the client's key: a new key, shown only here; the keys it replaces stay valid for
    `overlap_hours` (default `TICKETLOOP_INTAKE_CHANNEL_KEY_OVERLAP_HOURS`, 24 h), then are
    refused. Audited. `If-Match` is required so two rotations cannot cut each other's overlap."""
    hours = body.overlap_hours if body is not None and body.overlap_hours is not None else None
    overlap = timedelta(hours=settings.channel_key_overlap_hours if hours is None else hours)
    now = runtime.clock.now()
    found, key, api_key = await service.rotate_key(
        session, client_id=client_id, version=if_match_version(if_match), overlap=overlap, now=now, by=admin
    )
    detail = _detail(found, now, response)
    return KeyRotated(**detail.model_dump(), api_key=api_key, key_id=key.id)


@router.delete("/{client_id}/keys/{key_id}", response_model=ChannelClientDetail, responses=_errors)
async def revoke_key(
    client_id: uuid.UUID,
    key_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: CurrentAdmin,
    response: Response,
    if_match: IfMatchRequired,
) -> ChannelClientDetail:
    """Revoke one key: refused from now on, everywhere within about a second (it stays listed,
    revoked). Audited."""
    now = runtime.clock.now()
    found = await service.revoke_key(
        session, client_id=client_id, key_id=key_id, version=if_match_version(if_match), now=now, by=admin
    )
    return _detail(found, now, response)
