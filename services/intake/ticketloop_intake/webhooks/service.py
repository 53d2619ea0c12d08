"""The public face of webhooks: subscriptions (channel and admin), their secrets, the delivery
log and replay. The fan-out of events into deliveries is `fanout.py`, the worker's bookkeeping
`bookkeeping.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers.service import clear, open_field, seal_field
from ticketloop_intake.db import audit
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import domain, repository
from ticketloop_intake.webhooks.domain import (
    ChannelEvent,
    DeliveryStatus,
    EndpointStatus,
    Owner,
)
from ticketloop_intake.webhooks.fanout import delivery_body, delivery_row, forget_subscriptions, wake_every_worker
from ticketloop_intake.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ticketloop_intake.webhooks.schemas import EndpointCreate, EndpointUpdate, ReplayRange
from ticketloop_shared import audit as audit_log
from ticketloop_shared import webhooks as signing
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import (
    EventType,
)
from ticketloop_shared.ids import new_id

# ---------------------------------------------------------------------------------------------
# Who is asking


@dataclass(frozen=True)
class Subscriber:
    """The owner of the endpoints a request may see and change: one channel client, or the
    admins (who share the downstream subscriptions)."""

    owner: Owner
    actor: str
    role: str
    channel_client_id: uuid.UUID | None = None

    @classmethod
    def channel(cls, client: ChannelClientView) -> Subscriber:
        """A channel client, for its own tickets' events."""
        return cls(Owner.CHANNEL, f"channel:{client.name}", "channel", client.id)

    @classmethod
    def admin(cls, principal: Principal) -> Subscriber:
        """An administrator, for catalog events."""
        return cls(Owner.ADMIN, principal.sub, principal.role.value)


async def record_audit(
    session: AsyncSession, by: Subscriber, action: str, endpoint_id: uuid.UUID, **details: Any
) -> None:
    await audit_log.record_as(
        session,
        audit,
        actor=by.actor,
        role=by.role,
        action=action,
        subject=f"webhook_endpoint:{endpoint_id}",
        details=details,
    )


# ---------------------------------------------------------------------------------------------
# Secrets: sealed with an install key derived from the master key (intake must sign, so it
# cannot keep only a hash)


def _seal_secret(settings: IntakeSettings, endpoint_id: uuid.UUID, secret: str) -> bytes:
    key = domain.secret_sealing_key(settings.data_master_key)
    return seal_field(key, f"webhook-endpoint:{endpoint_id}", "secret", secret)


def _open_secret(settings: IntakeSettings, endpoint_id: uuid.UUID, blob: bytes | None) -> str | None:
    key = domain.secret_sealing_key(settings.data_master_key)
    return open_field(key, f"webhook-endpoint:{endpoint_id}", "secret", blob)


def signing_secrets(settings: IntakeSettings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous one during the
    overlap after a rotation."""
    found = [_open_secret(settings, endpoint.id, endpoint.secret)]
    if endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now:
        found.append(_open_secret(settings, endpoint.id, endpoint.previous_secret))
    return [s for s in found if s]


def previous_valid_until(endpoint: WebhookEndpoint, now: datetime) -> datetime | None:
    """Until when the previous secret still signs (None: it no longer does)."""
    until = endpoint.previous_secret_until
    return until if until is not None and until > now else None


# ---------------------------------------------------------------------------------------------
# Subscriptions


def _event_types(owner: Owner, wanted: Sequence[str]) -> list[str]:
    allowed = {e.value for e in ChannelEvent} if owner is Owner.CHANNEL else {t.value for t in EventType}
    unknown = sorted(set(wanted) - allowed)
    if unknown:
        raise Unprocessable(
            f"unknown event types for a {owner.value} subscription: {', '.join(unknown)}",
            code="unknown_event_type",
            details={"unknown": unknown, "allowed": sorted(allowed)},
        )
    return sorted(set(wanted))


async def _checked_url(settings: IntakeSettings, url: str) -> str:
    try:
        await signing.check_url(url, allow_private=settings.webhooks_private_allowed)
    except signing.AddressRefused as exc:
        raise Unprocessable(str(exc), code=exc.code, details={"url": url}) from exc
    return url


async def create(uow: IntakeUnit, *, by: Subscriber, body: EndpointCreate) -> tuple[WebhookEndpoint, str]:
    """A new subscription and its signing secret (returned once); the URL must be one intake may
    call (http/https, a public address unless private ones are allowed); audited."""
    types = _event_types(by.owner, body.event_types)
    url = await _checked_url(uow.settings, body.url)
    now, secret, endpoint_id = uow.now(), signing.new_secret(), new_id()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        owner=by.owner.value,
        channel_client_id=by.channel_client_id,
        url=url,
        description=body.description,
        event_types=types,
        status=EndpointStatus.ACTIVE.value,
        secret=_seal_secret(uow.settings, endpoint_id, secret),
        version=1,
        created_by=by.actor,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(endpoint)
    await uow.session.flush()
    await record_audit(uow.session, by, "webhook.endpoint_created", endpoint_id, url=url, event_types=types)
    forget_subscriptions(uow.session)
    return endpoint, secret


async def list_endpoints(session: AsyncSession, *, by: Subscriber) -> Sequence[WebhookEndpoint]:
    """The caller's endpoints."""
    return await repository.endpoints_of(session, by.owner, by.channel_client_id)


async def read(
    session: AsyncSession, *, by: Subscriber, endpoint_id: uuid.UUID, for_update: bool = False
) -> WebhookEndpoint:
    """One of the caller's endpoints (another owner's is not found)."""
    endpoint = await repository.endpoint(session, endpoint_id, for_update=for_update)
    if (
        endpoint is None
        or endpoint.owner != by.owner.value
        or (by.owner is Owner.CHANNEL and endpoint.channel_client_id != by.channel_client_id)
    ):
        raise NotFound(f"no webhook endpoint with id {endpoint_id}", code="webhook_endpoint_not_found")
    return endpoint


def etag(endpoint: WebhookEndpoint) -> str:
    """An endpoint's version as an HTTP entity tag."""
    return f'"{endpoint.version}"'


def _matches(if_match: str, endpoint: WebhookEndpoint) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return any(tag == "*" or tag == etag(endpoint) for tag in tags)


async def _guarded(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, if_match: str) -> WebhookEndpoint:
    """The caller's endpoint, locked, if `If-Match` names its current version."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id, for_update=True)
    if not _matches(if_match, endpoint):
        raise PreconditionFailed(
            "the endpoint changed since you read it; read it again and re-apply your change",
            code="webhook_endpoint_changed",
            details={"current_etag": etag(endpoint)},
        )
    return endpoint


def touch(endpoint: WebhookEndpoint, now: datetime) -> None:
    endpoint.version += 1
    endpoint.updated_at = now


async def update(
    uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, change: EndpointUpdate, if_match: str
) -> WebhookEndpoint:
    """Change the URL, event types or description over the version the caller read; audited."""
    endpoint = await _guarded(uow, by=by, endpoint_id=endpoint_id, if_match=if_match)
    changed: dict[str, Any] = {}
    if change.url is not None and change.url != endpoint.url:
        endpoint.url = changed["url"] = await _checked_url(uow.settings, change.url)
    if change.event_types is not None:
        types = _event_types(by.owner, change.event_types)
        if types != list(endpoint.event_types):
            endpoint.event_types = changed["event_types"] = types
    if "description" in change.model_fields_set and change.description != endpoint.description:
        endpoint.description = changed["description"] = change.description
    if changed:
        touch(endpoint, uow.now())
        await record_audit(uow.session, by, "webhook.endpoint_updated", endpoint.id, **changed)
        forget_subscriptions(uow.session)
    return endpoint


async def set_paused(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, paused: bool) -> WebhookEndpoint:
    """Pause (deliveries wait) or resume (also an endpoint intake disabled: it is tried again,
    with what was pending); audited. Pausing a paused endpoint changes nothing."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id, for_update=True)
    target = EndpointStatus.PAUSED if paused else EndpointStatus.ACTIVE
    if endpoint.status != target.value:
        previous = endpoint.status
        endpoint.status = target.value
        endpoint.disabled_reason = None
        endpoint.failing_since = None
        touch(endpoint, uow.now())
        action = "webhook.endpoint_paused" if paused else "webhook.endpoint_resumed"
        await record_audit(uow.session, by, action, endpoint.id, previous_status=previous)
        forget_subscriptions(uow.session)
        if not paused:
            await wake_every_worker(uow)
    return endpoint


async def delete(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, if_match: str) -> None:
    """Delete an endpoint with its deliveries and their log, at the version the caller read
    (so a change made meanwhile is not deleted unseen); audited."""
    endpoint = await _guarded(uow, by=by, endpoint_id=endpoint_id, if_match=if_match)
    await record_audit(uow.session, by, "webhook.endpoint_deleted", endpoint.id, url=endpoint.url)
    await uow.session.delete(endpoint)
    await uow.session.flush()
    forget_subscriptions(uow.session)


async def rotate_secret(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once); the current one keeps signing beside it for the
    overlap, so receivers can switch without losing a message; audited."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id, for_update=True)
    now, secret = uow.now(), signing.new_secret()
    overlap = timedelta(hours=uow.settings.webhooks_secret_overlap_hours)
    endpoint.previous_secret = endpoint.secret if overlap > timedelta(0) else None
    endpoint.previous_secret_until = now + overlap if overlap > timedelta(0) else None
    endpoint.secret = _seal_secret(uow.settings, endpoint.id, secret)
    touch(endpoint, now)
    await record_audit(
        uow.session, by, "webhook.secret_rotated", endpoint.id, previous_valid_until=str(endpoint.previous_secret_until)
    )
    return endpoint, secret


async def send_test(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Queue a `webhook.test` delivery to the endpoint (signed like any other); audited."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id)
    now, delivery_id = uow.now(), new_id()
    data = {"endpoint_id": str(endpoint.id), "message": "a test event from ticketloop"}
    body = delivery_body(delivery_id, domain.TEST_EVENT, now, data)
    row = delivery_row(
        delivery_id=delivery_id,
        endpoint_id=endpoint.id,
        event_id=new_id(),
        event_type=domain.TEST_EVENT,
        order_key=f"test:{delivery_id}",
        payload=clear(body.decode()),
        now=now,
    )
    await repository.add_deliveries(uow.session, [row])
    await wake_every_worker(uow)
    await record_audit(uow.session, by, "webhook.test_sent", endpoint.id, delivery_id=str(delivery_id))
    found = await repository.delivery(uow.session, delivery_id)
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------
# The delivery log and replay


async def deliveries(
    session: AsyncSession,
    *,
    by: Subscriber,
    endpoint_id: uuid.UUID,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    await read(session, by=by, endpoint_id=endpoint_id)
    return await repository.deliveries(session, endpoint_id, status=status, since=since, until=until, limit=limit)


async def delivery(
    session: AsyncSession, *, by: Subscriber, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """One delivery of one of the caller's endpoints."""
    await read(session, by=by, endpoint_id=endpoint_id)
    found = await repository.delivery(session, delivery_id)
    if found is None or found.endpoint_id != endpoint_id:
        raise NotFound(f"no delivery with id {delivery_id}", code="webhook_delivery_not_found")
    return found


async def attempts(
    session: AsyncSession, *, by: Subscriber, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> Sequence[WebhookAttempt]:
    """Every attempt of a delivery, oldest first."""
    await delivery(session, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id)
    return await repository.attempts(session, delivery_id)


async def replay(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery again, with the same id (receivers deduplicate), with a fresh set of
    attempts; audited. An erased one cannot be: its payload is gone."""
    found = await delivery(uow.session, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if found.status == DeliveryStatus.ERASED.value:
        raise Conflict("the customer's data was erased; this delivery can no longer be sent", code="delivery_erased")
    found.status = DeliveryStatus.PENDING.value
    found.attempts = 0
    found.next_attempt_at = uow.now()
    await record_audit(uow.session, by, "webhook.delivery_replayed", endpoint_id, delivery_id=str(delivery_id))
    await wake_every_worker(uow)
    return found


async def replay_range(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, window: ReplayRange) -> int:
    """Send again an endpoint's deliveries created in [since, until) (failed and delivered by
    default), in their order; audited; how many."""
    if window.until <= window.since:
        raise Unprocessable("until must be after since", code="empty_range")
    await read(uow.session, by=by, endpoint_id=endpoint_id)
    count = await repository.replay_range(
        uow.session, endpoint_id, since=window.since, until=window.until, statuses=window.statuses, now=uow.now()
    )
    await record_audit(
        uow.session,
        by,
        "webhook.deliveries_replayed",
        endpoint_id,
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        statuses=list(window.statuses),
        count=count,
    )
    await wake_every_worker(uow)
    return count


async def operator(session: AsyncSession, endpoint_id: uuid.UUID, actor: str) -> Subscriber:
    """The command line acts for an endpoint's owner, whoever it is, recorded as `actor`."""
    endpoint = await repository.endpoint(session, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}", code="webhook_endpoint_not_found")
    return Subscriber(Owner(endpoint.owner), actor, "operator", endpoint.channel_client_id)


async def range_to_replay(
    uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, window: ReplayRange
) -> list[uuid.UUID]:
    """The deliveries a range replay would send again, in order (for a replay with progress)."""
    await read(uow.session, by=by, endpoint_id=endpoint_id)
    return await repository.ids_in_range(
        uow.session, endpoint_id, since=window.since, until=window.until, statuses=window.statuses
    )


async def requeue(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> int:
    """Send these deliveries of the endpoint again (one chunk of a range replay); audited."""
    await read(uow.session, by=by, endpoint_id=endpoint_id)
    count = await repository.requeue(uow.session, ids, now=uow.now())
    await record_audit(uow.session, by, "webhook.deliveries_replayed", endpoint_id, count=count, via="cli")
    await wake_every_worker(uow)
    return count


async def finished_deliveries_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """Retention's dry run: deliveries (with their payloads and attempt logs) over before `cutoff`."""
    return await repository.finished_due(session, cutoff)


async def delete_finished_deliveries(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Retention: delete at most `limit` deliveries over before `cutoff`, payload and attempts
    included; pending ones are never touched. How many."""
    return await repository.delete_finished(session, cutoff, limit=limit)
