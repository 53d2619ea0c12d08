"""HTTP: webhook subscriptions, their delivery log and replay. The same routes twice: under
`/v1/channel/webhooks` for a channel client (its key; its own tickets' events) and under
`/v1/webhooks` for administrators (catalog events).

No `from __future__ import annotations` here: the routes are built inside a factory, and their
`Caller` dependency (a local alias) must be evaluated when each route is defined."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.unit import IntakeUowDep
from ticketloop_intake.webhooks import service
from ticketloop_intake.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ticketloop_intake.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    Replayed,
    ReplayRange,
    SecretRotated,
)
from ticketloop_intake.webhooks.service import Subscriber
from ticketloop_shared.api import IfMatchRequired, SessionDep
from ticketloop_shared.auth import CurrentAdmin

_ETAG = {"ETag": {"description": "The endpoint's version, to send back as `If-Match`", "schema": {"type": "string"}}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such endpoint of yours"}}
_PRECONDITIONS: dict[int | str, dict[str, Any]] = {
    412: {"description": "The endpoint changed since the `If-Match` version (`webhook_endpoint_changed`)"},
    428: {"description": "`If-Match` is missing (`if_match_required`)"},
}


def render(endpoint: WebhookEndpoint, now: datetime) -> EndpointOut:
    """An endpoint as the API shows it (never its secret)."""
    return EndpointOut(
        id=endpoint.id,
        owner=endpoint.owner,
        channel_client_id=endpoint.channel_client_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        status=endpoint.status,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        previous_secret_valid_until=service.previous_valid_until(endpoint, now),
        version=endpoint.version,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def render_delivery(delivery: WebhookDelivery) -> DeliveryOut:
    """A delivery as the log shows it (never its payload)."""
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_attempt_at=delivery.last_attempt_at,
        last_status=delivery.last_status,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def render_attempt(attempt: WebhookAttempt) -> AttemptOut:
    """One attempt as the log shows it."""
    return AttemptOut(
        id=attempt.id,
        at=attempt.at,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        response=attempt.response,
        error=attempt.error,
    )


def subscription_router(prefix: str, tag: str, subscriber: Callable[..., Awaitable[Subscriber]]) -> APIRouter:
    """The subscription API for one kind of owner (`subscriber` authenticates the caller)."""
    router = APIRouter(prefix=prefix, tags=[tag])
    Caller = Annotated[Subscriber, Depends(subscriber)]

    @router.post(
        "",
        response_model=EndpointCreated,
        status_code=201,
        responses={201: {"headers": _ETAG}, 422: {"description": "Unknown event type, or a URL intake may not call"}},
    )
    async def create_endpoint(
        body: EndpointCreate, uow: IntakeUowDep, by: Caller, response: Response
    ) -> EndpointCreated:
        """Subscribe a URL to event types; the answer holds the signing secret, shown this once."""
        endpoint, secret = await service.create(uow, by=by, body=body)
        response.headers["ETag"] = service.etag(endpoint)
        return EndpointCreated(**render(endpoint, uow.now()).model_dump(), secret=secret)

    @router.get("", response_model=list[EndpointOut])
    async def list_endpoints(uow: IntakeUowDep, by: Caller) -> list[EndpointOut]:
        """Your endpoints."""
        return [render(e, uow.now()) for e in await service.list_endpoints(uow.session, by=by)]

    @router.get("/{endpoint_id}", response_model=EndpointOut, responses={200: {"headers": _ETAG}, **_NOT_FOUND})
    async def read_endpoint(endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller, response: Response) -> EndpointOut:
        """One endpoint, with its version in `ETag`."""
        endpoint = await service.read(uow.session, by=by, endpoint_id=endpoint_id)
        response.headers["ETag"] = service.etag(endpoint)
        return render(endpoint, uow.now())

    @router.patch(
        "/{endpoint_id}",
        response_model=EndpointOut,
        responses={
            200: {"headers": _ETAG},
            **_NOT_FOUND,
            **_PRECONDITIONS,
        },
    )
    async def update_endpoint(
        endpoint_id: uuid.UUID,
        body: EndpointUpdate,
        uow: IntakeUowDep,
        by: Caller,
        if_match: IfMatchRequired,
        response: Response,
    ) -> EndpointOut:
        """Change URL, event types or description over the version you read (`If-Match`); audited."""
        endpoint = await service.update(uow, by=by, endpoint_id=endpoint_id, change=body, if_match=if_match)
        response.headers["ETag"] = service.etag(endpoint)
        return render(endpoint, uow.now())

    @router.post("/{endpoint_id}/pause", response_model=EndpointOut, responses=_NOT_FOUND)
    async def pause_endpoint(endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller, response: Response) -> EndpointOut:
        """Stop sending (deliveries wait, and go out in order on resume); audited."""
        endpoint = await service.set_paused(uow, by=by, endpoint_id=endpoint_id, paused=True)
        response.headers["ETag"] = service.etag(endpoint)
        return render(endpoint, uow.now())

    @router.post("/{endpoint_id}/resume", response_model=EndpointOut, responses=_NOT_FOUND)
    async def resume_endpoint(endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller, response: Response) -> EndpointOut:
        """Send again (also to an endpoint intake disabled); audited."""
        endpoint = await service.set_paused(uow, by=by, endpoint_id=endpoint_id, paused=False)
        response.headers["ETag"] = service.etag(endpoint)
        return render(endpoint, uow.now())

    @router.delete("/{endpoint_id}", status_code=204, responses={**_NOT_FOUND, **_PRECONDITIONS})
    async def delete_endpoint(
        endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller, if_match: IfMatchRequired
    ) -> Response:
        """Delete the endpoint with its deliveries and their log, at the version read (`If-Match`);
        audited."""
        await service.delete(uow, by=by, endpoint_id=endpoint_id, if_match=if_match)
        return Response(status_code=204)

    @router.post("/{endpoint_id}/rotate-secret", response_model=SecretRotated, responses=_NOT_FOUND)
    async def rotate_secret(endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller) -> SecretRotated:
        """A new signing secret (shown once); the old one keeps signing beside it until
        `previous_valid_until`; audited."""
        endpoint, secret = await service.rotate_secret(uow, by=by, endpoint_id=endpoint_id)
        return SecretRotated(secret=secret, previous_valid_until=service.previous_valid_until(endpoint, uow.now()))

    @router.post("/{endpoint_id}/test", response_model=DeliveryOut, status_code=202, responses=_NOT_FOUND)
    async def send_test(endpoint_id: uuid.UUID, uow: IntakeUowDep, by: Caller) -> DeliveryOut:
        """Queue a signed `webhook.test` delivery; follow it in the delivery log; audited."""
        return render_delivery(await service.send_test(uow, by=by, endpoint_id=endpoint_id))

    @router.get("/{endpoint_id}/deliveries", response_model=list[DeliveryOut], responses=_NOT_FOUND)
    async def list_deliveries(
        endpoint_id: uuid.UUID,
        session: SessionDep,
        by: Caller,
        status: Annotated[str | None, Query(pattern="^(pending|delivered|failed|erased|cancelled)$")] = None,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[DeliveryOut]:
        """The endpoint's deliveries, newest first."""
        found = await service.deliveries(
            session, by=by, endpoint_id=endpoint_id, status=status, since=since, until=until, limit=limit
        )
        return [render_delivery(d) for d in found]

    @router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryOut, responses=_NOT_FOUND)
    async def read_delivery(
        endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, by: Caller
    ) -> DeliveryOut:
        """One delivery."""
        return render_delivery(await service.delivery(session, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id))

    @router.get(
        "/{endpoint_id}/deliveries/{delivery_id}/attempts", response_model=list[AttemptOut], responses=_NOT_FOUND
    )
    async def list_attempts(
        endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, by: Caller
    ) -> list[AttemptOut]:
        """Every attempt of a delivery: status, latency, the start of the answer, or the error."""
        found = await service.attempts(session, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id)
        return [render_attempt(a) for a in found]

    @router.post(
        "/{endpoint_id}/deliveries/{delivery_id}/replay",
        response_model=DeliveryOut,
        status_code=202,
        responses={**_NOT_FOUND, 409: {"description": "The customer's data was erased (`delivery_erased`)"}},
    )
    async def replay_delivery(
        endpoint_id: uuid.UUID, delivery_id: uuid.UUID, uow: IntakeUowDep, by: Caller
    ) -> DeliveryOut:
        """Send a delivery again, with the same id; audited."""
        found = await service.replay(uow, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id)
        return render_delivery(found)

    @router.post("/{endpoint_id}/replay", response_model=Replayed, status_code=202, responses=_NOT_FOUND)
    async def replay_range(endpoint_id: uuid.UUID, window: ReplayRange, uow: IntakeUowDep, by: Caller) -> Replayed:
        """Send again what was created in [since, until) (failed and delivered by default); audited."""
        return Replayed(replayed=await service.replay_range(uow, by=by, endpoint_id=endpoint_id, window=window))

    return router


async def _channel(client: ChannelDep) -> Subscriber:
    return Subscriber.channel(client)


async def _admin(admin: CurrentAdmin) -> Subscriber:
    return Subscriber.admin(admin)


channel_router = subscription_router("/v1/channel/webhooks", "channel webhooks", _channel)
admin_router = subscription_router("/v1/webhooks", "webhooks", _admin)
