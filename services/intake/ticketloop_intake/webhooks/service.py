"""The public face of webhooks: subscriptions (channel and admin), the fan-out of events into
deliveries in the transaction that emits them, the delivery worker's claim and bookkeeping, the
delivery log and replay.

A channel's payloads carry the customer's texts and links, so they are built here (where the
sealed texts open) and stored sealed with the customer's key: erasing the customer makes a
pending payload unreadable, and it is never sent. Admin payloads are the catalog's PII-free
envelopes, exactly as on the topics.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers.service import clear, key_for_sealing, keys_for_opening, open_field, seal_field
from ticketloop_intake.db import audit
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.tickets.service import ChannelFacts
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import domain, repository
from ticketloop_intake.webhooks.domain import (
    SURVEY_URL,
    ChannelEvent,
    DeliveryStatus,
    EndpointStatus,
    Owner,
    RetryPolicy,
    Verdict,
)
from ticketloop_intake.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ticketloop_intake.webhooks.schemas import EndpointCreate, EndpointUpdate, ReplayRange
from ticketloop_shared import audit as audit_log
from ticketloop_shared import webhooks as signing
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import (
    Envelope,
    EventType,
    SurveySentV2,
    TicketClosed,
    TicketCreated,
    TicketPlanCommitted,
    TicketReopened,
    TicketResolved,
    WebhookEndpointDisabledData,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.state import Slot, state_of

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


async def _audit(session: AsyncSession, by: Subscriber, action: str, endpoint_id: uuid.UUID, **details: Any) -> None:
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


class _Presence:
    """Whether any channel has an endpoint, per database, remembered for two seconds: with no
    channel subscriber, ticket events cost no webhook query. A subscription made in this process
    counts at once; one made in another replica within two seconds."""

    TTL = 2.0

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, bool]] = {}

    async def any(self, session: AsyncSession) -> bool:
        db = str(session.get_bind().engine.url)
        hit = self._known.get(db)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = await repository.any_channel_endpoint(session)
        self._known[db] = (time.monotonic() + self.TTL, found)
        return found

    def forget(self) -> None:
        self._known.clear()


_PRESENCE = Slot("webhook channel presence", _Presence)

# Set once a transaction that wrote deliveries due now committed: the worker of this process
# sends them at once instead of at its next poll.
DUE_NOW = Slot("webhook deliveries due now", asyncio.Event)


def _wake_worker(uow: IntakeUnit) -> None:
    uow.after_commit(uow.state[DUE_NOW].set)


class _AdminTypes:
    """The event types admin endpoints subscribe to, remembered for a second: the admin consumer
    asks before each poll batch. A change made in this process counts at once; one made in
    another replica within the second (its events of that second are not sent)."""

    TTL = 1.0

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, frozenset[str]]] = {}

    async def types(self, session: AsyncSession) -> frozenset[str]:
        db = str(session.get_bind().engine.url)
        hit = self._known.get(db)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = frozenset(t for _, types in await repository.admin_endpoints(session) for t in types)
        self._known[db] = (time.monotonic() + self.TTL, found)
        return found

    def forget(self) -> None:
        self._known.clear()


_ADMIN_TYPES = Slot("webhook admin event types", _AdminTypes)


class _ChannelEndpoints:
    """Each channel client's endpoints with the types they want, remembered for a second: a
    ticket event then costs no endpoint query. A change made in this process counts at once;
    one made in another replica within the second. An endpoint deleted meanwhile gets nothing
    (the insert joins the endpoints)."""

    TTL = 1.0

    def __init__(self) -> None:
        self._known: dict[tuple[str, uuid.UUID], tuple[float, list[tuple[uuid.UUID, list[str]]]]] = {}

    async def of(self, session: AsyncSession, channel_client_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str]]]:
        slot = (str(session.get_bind().engine.url), channel_client_id)
        hit = self._known.get(slot)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if len(self._known) > 10_000:
            self._known.clear()
        found = await repository.channel_endpoints(session, channel_client_id)
        self._known[slot] = (time.monotonic() + self.TTL, found)
        return found

    def forget(self) -> None:
        self._known.clear()


_CHANNEL_ENDPOINTS = Slot("webhook channel endpoints", _ChannelEndpoints)


def _forget_subscriptions(session: AsyncSession) -> None:
    """This process changed a subscription: what the caches say is asked again."""
    state = state_of(session)
    state[_PRESENCE].forget()
    state[_ADMIN_TYPES].forget()
    state[_CHANNEL_ENDPOINTS].forget()


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
    await _audit(uow.session, by, "webhook.endpoint_created", endpoint_id, url=url, event_types=types)
    _forget_subscriptions(uow.session)
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


def _touch(endpoint: WebhookEndpoint, now: datetime) -> None:
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
        _touch(endpoint, uow.now())
        await _audit(uow.session, by, "webhook.endpoint_updated", endpoint.id, **changed)
        _forget_subscriptions(uow.session)
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
        _touch(endpoint, uow.now())
        action = "webhook.endpoint_paused" if paused else "webhook.endpoint_resumed"
        await _audit(uow.session, by, action, endpoint.id, previous_status=previous)
        _forget_subscriptions(uow.session)
        if not paused:
            _wake_worker(uow)
    return endpoint


async def delete(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID, if_match: str) -> None:
    """Delete an endpoint with its deliveries and their log, at the version the caller read
    (so a change made meanwhile is not deleted unseen); audited."""
    endpoint = await _guarded(uow, by=by, endpoint_id=endpoint_id, if_match=if_match)
    await _audit(uow.session, by, "webhook.endpoint_deleted", endpoint.id, url=endpoint.url)
    await uow.session.delete(endpoint)
    await uow.session.flush()
    _forget_subscriptions(uow.session)


async def rotate_secret(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once); the current one keeps signing beside it for the
    overlap, so receivers can switch without losing a message; audited."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id, for_update=True)
    now, secret = uow.now(), signing.new_secret()
    overlap = timedelta(hours=uow.settings.webhooks_secret_overlap_hours)
    endpoint.previous_secret = endpoint.secret if overlap > timedelta(0) else None
    endpoint.previous_secret_until = now + overlap if overlap > timedelta(0) else None
    endpoint.secret = _seal_secret(uow.settings, endpoint.id, secret)
    _touch(endpoint, now)
    await _audit(
        uow.session, by, "webhook.secret_rotated", endpoint.id, previous_valid_until=str(endpoint.previous_secret_until)
    )
    return endpoint, secret


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _body(delivery_id: uuid.UUID, event_type: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body every delivery sends: Standard Webhooks' `type`/`timestamp`/`data`, and the
    delivery's `id` (the same as the `webhook-id` header)."""
    return json.dumps(
        {"id": str(delivery_id), "type": event_type, "timestamp": at.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def _delivery_row(
    *,
    delivery_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    order_key: str,
    payload: bytes,
    now: datetime,
    customer_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "order_key": order_key,
        "customer_id": customer_id,
        "payload": payload,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def send_test(uow: IntakeUnit, *, by: Subscriber, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Queue a `webhook.test` delivery to the endpoint (signed like any other); audited."""
    endpoint = await read(uow.session, by=by, endpoint_id=endpoint_id)
    now, delivery_id = uow.now(), new_id()
    data = {"endpoint_id": str(endpoint.id), "message": "a test event from ticketloop"}
    body = _body(delivery_id, domain.TEST_EVENT, now, data)
    row = _delivery_row(
        delivery_id=delivery_id,
        endpoint_id=endpoint.id,
        event_id=new_id(),
        event_type=domain.TEST_EVENT,
        order_key=f"test:{delivery_id}",
        payload=clear(body.decode()),
        now=now,
    )
    await repository.add_deliveries(uow.session, [row])
    _wake_worker(uow)
    await _audit(uow.session, by, "webhook.test_sent", endpoint.id, delivery_id=str(delivery_id))
    found = await repository.delivery(uow.session, delivery_id)
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------
# Channel payloads: one builder per channel event. `ticket.acknowledged` (issue 20 item 3) is
# added by writing its builder and mapping its catalog event in `domain.channel_event_for`.

Builder = Callable[[Envelope, ChannelFacts], dict[str, Any]]


def _message(facts: ChannelFacts) -> dict[str, Any] | None:
    if facts.entry_id is None:
        return None
    # Attachments: the attachments feature lists them here once timeline entries carry them.
    return {"id": str(facts.entry_id), "text": facts.text, "attachments": [], "sent_at": _iso(facts.entry_at)}


def _with_message(_: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    return {"message": _message(facts)}


def _plan(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketPlanCommitted)
    return {"message": _message(facts), "committed_resolution_at": _iso(event.data.committed_resolution_at)}


def _resolved(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketResolved)
    link = facts.link
    return {
        "message": _message(facts),
        "resolved_at": _iso(event.data.resolved_at),
        "self_service": event.data.self_service,
        # The customer's no-login link: GET shows the ticket, POST …/confirm closes it, POST
        # …/reopen (body {"reason": "…"}) reopens it, until `links_expire_at`.
        "link_url": link,
        "confirm_url": f"{link}/confirm" if link else None,
        "reopen_url": f"{link}/reopen" if link else None,
        "links_expire_at": _iso(facts.link_expires_at),
    }


def _closed(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketClosed)
    return {"closed_at": _iso(event.data.closed_at), "automatic": event.data.automatic}


def _reopened(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketReopened)
    return {"reopened_at": _iso(event.data.reopened_at), "reason": event.data.reason}


def _acknowledged(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketCreated)
    return {
        "accepted_at": _iso(event.data.created_at),
        "department": {"id": facts.department_id, "name": facts.department_name} if facts.department_id else None,
        "owner": {"id": facts.assignee_id, "name": facts.assignee_name} if facts.assignee_id else None,
        "deadlines": {
            "acknowledgement_due": _iso(facts.acknowledgement_due),
            "first_response_due": _iso(facts.first_response_due),
            "resolution_due": _iso(facts.resolution_due),
        },
    }


def _survey_due(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, SurveySentV2)
    # `survey_url` is filled in when the delivery is sent (`survey_links.py`): the link is
    # feedback's credential, never stored here nor carried on a topic.
    return {
        "survey_id": str(event.data.survey_id),
        "kind": event.data.kind.value,
        "expires_at": _iso(event.data.expires_at),
        SURVEY_URL: None,
    }


BUILDERS: dict[ChannelEvent, Builder] = {
    ChannelEvent.ACKNOWLEDGED: _acknowledged,
    ChannelEvent.REPLIED: _with_message,
    ChannelEvent.WAITING: _with_message,
    ChannelEvent.UPDATED: _with_message,
    ChannelEvent.PLAN_COMMITTED: _plan,
    ChannelEvent.RESOLVED: _resolved,
    ChannelEvent.CLOSED: _closed,
    ChannelEvent.REOPENED: _reopened,
    ChannelEvent.SURVEY_DUE: _survey_due,
}


def channel_data(kind: ChannelEvent, event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    """The `data` of a channel delivery: what every channel payload carries, then the event's own."""
    common: dict[str, Any] = {
        "ticket_id": str(facts.ticket_id),
        "number": facts.number,
        # The channel's own reference: a channel webhook goes only to the channel that owns the ticket.
        "customer_id": facts.reference,
        "channel": facts.channel,
        "contact": facts.contact,
        "status": facts.status,
        "event_id": str(event.id),
        "occurred_at": event.time.isoformat(),
    }
    return common | BUILDERS[kind](event, facts)


async def on_events(uow: IntakeUnit, events: Sequence[Envelope]) -> None:
    """The unit of work's observer: for each ticket event a channel is told about, a delivery
    per subscribed endpoint of the ticket's channel client, written in the same transaction as
    the event (so a delivery exists exactly when its event does)."""
    wanted = [(e, kind) for e in events if (kind := domain.channel_event_for(e)) is not None and kind in BUILDERS]
    if not wanted or not await state_of(uow.session)[_PRESENCE].any(uow.session):
        return
    for event, kind in wanted:
        await _fan_out(uow, event, kind)


async def survey_due(uow: IntakeUnit, event: SurveySentV2) -> None:
    """A ticket's survey fell due: a `survey.due` delivery per endpoint of the ticket's channel
    subscribed to it (a relationship survey, about no ticket, is the notifier's to send). One
    event per resolution: a query instead of the per-process presence cache ticket events use."""
    if event.data.ticket_id is None or not await repository.any_channel_endpoint(uow.session):
        return
    await _fan_out(uow, event, ChannelEvent.SURVEY_DUE)


async def _fan_out(uow: IntakeUnit, event: Envelope, kind: ChannelEvent) -> None:
    ticket_id: uuid.UUID = event.data.ticket_id
    assert ticket_id is not None
    # Who the ticket's channel is decides first whether anything is written: a ticket of a
    # channel without a subscription to this kind costs no more.
    channel_client_id = await tickets.channel_client_of(uow, ticket_id)
    if channel_client_id is None:
        return
    subscribed = await uow.state[_CHANNEL_ENDPOINTS].of(uow.session, channel_client_id)
    endpoints = [endpoint_id for endpoint_id, types in subscribed if kind.value in types]
    if not endpoints:
        return
    source = domain.TEXT_OF.get(kind)
    facts = await tickets.channel_facts(
        uow,
        ticket_id,
        entry_id=getattr(event.data, "message_id", None) if source is not None and source.by_message_id else None,
        entry_kind=source.latest_kind if source is not None else None,
    )
    if facts is None or facts.erased:
        return
    data = channel_data(kind, event, facts)
    key = await key_for_sealing(uow, facts.customer_id)
    now, rows = uow.now(), []
    for endpoint_id in endpoints:
        delivery_id = new_id()
        body = _body(delivery_id, kind.value, event.time, data).decode()
        rows.append(
            _delivery_row(
                delivery_id=delivery_id,
                endpoint_id=endpoint_id,
                event_id=event.id,
                event_type=kind.value,
                order_key=str(ticket_id),
                payload=seal_field(key, facts.customer_id, f"webhook:{delivery_id}", body),
                now=now,
                customer_id=facts.customer_id,
            )
        )
    await repository.add_deliveries(uow.session, rows)
    _wake_worker(uow)
    if kind is ChannelEvent.ACKNOWLEDGED:
        # Its 2xx, not a read-back, will meet the acknowledgement clock.
        await tickets.acknowledgement_queued(uow, ticket_id)


async def admin_interest(session: AsyncSession) -> frozenset[str]:
    """The event types some admin endpoint (not disabled) subscribes to: the admin consumer
    decodes only these."""
    return await state_of(session)[_ADMIN_TYPES].types(session)


async def deliver_to_admins(uow: IntakeUnit, events: Sequence[Envelope]) -> int:
    """A delivery per admin endpoint subscribed to each event's type, with the event's envelope
    as on the topic (PII-free by the catalog's rule) as `data`; a redelivered event adds none."""
    subscribed = await repository.admin_endpoints(uow.session)
    if not subscribed:
        return 0
    now, rows = uow.now(), []
    for event in events:
        wire: dict[str, Any] | None = None
        for endpoint_id, types in subscribed:
            if event.type not in types:
                continue
            wire = wire if wire is not None else json.loads(event.to_json())
            delivery_id = new_id()
            rows.append(
                _delivery_row(
                    delivery_id=delivery_id,
                    endpoint_id=endpoint_id,
                    event_id=event.id,
                    event_type=str(event.type),
                    order_key=event.subject,
                    payload=clear(_body(delivery_id, str(event.type), event.time, wire).decode()),
                    now=now,
                )
            )
    added = await repository.add_deliveries(uow.session, rows)
    if added:
        _wake_worker(uow)
    return added


# ---------------------------------------------------------------------------------------------
# The worker's bookkeeping (the sending itself is in `scheduled.py`)


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, ready to send: its body opened and the secrets that sign it; or the
    reason it cannot be sent at all (`problem`)."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    body: bytes
    secrets: list[str]
    problem: str | None = None
    event_type: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave."""

    delivery_id: uuid.UUID
    at: datetime
    status_code: int | None
    latency_ms: int
    response: str | None = None
    error: str | None = None
    # The delivery could not be sent (its customer was erased): no attempt, no retry.
    erased: bool = False
    # What the delivery announced no longer holds (its survey closed): no attempt, no retry.
    cancelled: bool = False


async def claim(uow: IntakeUnit) -> list[Outgoing]:
    """Lease a batch of due deliveries and open what they send."""
    settings, now = uow.settings, uow.now()
    lease = now + timedelta(seconds=settings.webhooks_timeout_seconds * 3 + 30)
    claimed = await repository.claim_due(uow.session, now=now, lease_until=lease, limit=settings.webhooks_batch)
    if not claimed:
        return []
    endpoints = await repository.endpoints(uow.session, [c.endpoint_id for c in claimed])
    customers = [c.customer_id for c in claimed if c.customer_id is not None]
    keys = await keys_for_opening(uow.session, customers, settings) if customers else {}
    # Opened once per endpoint of the batch, not once per delivery.
    secrets_of = {e.id: signing_secrets(settings, e, now) for e in endpoints.values()}
    found = []
    for c in claimed:
        endpoint = endpoints[c.endpoint_id]
        if c.customer_id is None:
            text = open_field(None, "", "", c.payload)
        else:
            text = open_field(keys.get(c.customer_id), c.customer_id, f"webhook:{c.id}", c.payload)
        secrets = secrets_of[endpoint.id]
        problem = "erased" if text is None else None
        if problem is None and not secrets:
            problem = "the endpoint's secret does not open with this install's key"
        body = (text or "").encode()
        found.append(Outgoing(c.id, c.endpoint_id, endpoint.url, body, secrets, problem, c.event_type))
    return found


async def record(uow: IntakeUnit, outcomes: Sequence[Outcome]) -> None:
    """Log each attempt and move its delivery on: delivered, retried later, failed; an endpoint
    that answered 410, or failed for longer than allowed, is disabled (event + audit).

    2xx answers, nearly all of them, are recorded for the whole batch in a few statements; the
    rest one by one, as they need their endpoint's state."""
    delivered = [o for o in outcomes if _is_2xx(o)]
    others = [o for o in outcomes if not _is_2xx(o)]
    await _record_delivered(uow, delivered)
    for outcome in others:
        await _record_one(uow, outcome)


def _is_2xx(outcome: Outcome) -> bool:
    return (
        not outcome.erased
        and not outcome.cancelled
        and outcome.status_code is not None
        and domain.verdict(outcome.status_code, attempts=1, max_attempts=1) is Verdict.DELIVERED
    )


def _attempt_row(outcome: Outcome) -> dict[str, Any]:
    return {
        "delivery_id": outcome.delivery_id,
        "at": outcome.at,
        "status_code": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "response": outcome.response,
        "error": outcome.error[:500] if outcome.error else None,
    }


async def _record_delivered(uow: IntakeUnit, outcomes: Sequence[Outcome]) -> None:
    by_id = {o.delivery_id: o for o in outcomes}
    done = await repository.mark_delivered(uow.session, [(o.delivery_id, o.at, o.status_code or 0) for o in outcomes])
    await repository.add_attempts(uow.session, [_attempt_row(by_id[d.id]) for d in done])
    for d in done:
        if d.event_type == ChannelEvent.ACKNOWLEDGED.value:
            # The customer's channel has the acknowledgement: that meets its clock.
            await tickets.acknowledge(uow, uuid.UUID(d.order_key), at=by_id[d.id].at, via="webhook")


async def _record_one(uow: IntakeUnit, outcome: Outcome) -> None:
    settings, now = uow.settings, uow.now()
    delivery = await repository.delivery(uow.session, outcome.delivery_id, for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
        return  # the endpoint was deleted, or a replay raced this attempt
    if outcome.erased or outcome.cancelled:
        delivery.status = (DeliveryStatus.ERASED if outcome.erased else DeliveryStatus.CANCELLED).value
        delivery.payload = b""
        return
    await repository.add_attempts(uow.session, [_attempt_row(outcome)])
    delivery.attempts += 1
    delivery.last_attempt_at = outcome.at
    delivery.last_status = outcome.status_code
    endpoint = await repository.endpoint(uow.session, delivery.endpoint_id, for_update=True)
    assert endpoint is not None  # a delivery goes with its endpoint
    decided = domain.verdict(
        outcome.status_code, attempts=delivery.attempts, max_attempts=settings.webhooks_max_attempts
    )
    if endpoint.failing_since is None:
        endpoint.failing_since = outcome.at
    if decided is Verdict.GONE:
        delivery.next_attempt_at = now  # sent first when the endpoint is resumed
        await _disable(uow, endpoint, reason="gone", last_status=outcome.status_code)
        return
    if decided is Verdict.GIVE_UP:
        delivery.status = DeliveryStatus.FAILED.value
    else:
        policy = RetryPolicy(
            settings.webhooks_retry_base_seconds, settings.webhooks_retry_factor, settings.webhooks_retry_cap_seconds
        )
        delivery.next_attempt_at = policy.next_attempt(now, delivery.attempts)
    limit = timedelta(hours=settings.webhooks_disable_after_hours)
    if endpoint.status == EndpointStatus.ACTIVE.value and domain.failing_too_long(endpoint.failing_since, now, limit):
        await _disable(uow, endpoint, reason="failing", last_status=outcome.status_code)


async def _disable(uow: IntakeUnit, endpoint: WebhookEndpoint, *, reason: str, last_status: int | None) -> None:
    if endpoint.status == EndpointStatus.DISABLED.value:
        return
    now = uow.now()
    endpoint.status = EndpointStatus.DISABLED.value
    endpoint.disabled_reason = reason
    _touch(endpoint, now)
    _forget_subscriptions(uow.session)
    uow.emit(
        WebhookEndpointDisabledData(
            endpoint_id=endpoint.id,
            owner=endpoint.owner,
            channel_client_id=endpoint.channel_client_id,
            reason=reason,
            failing_since=endpoint.failing_since,
            last_status=last_status,
            disabled_at=now,
        ),
        subject=endpoint.id,
    )
    system = Subscriber(Owner.ADMIN, "system", "system")
    await _audit(
        uow.session,
        system,
        "webhook.endpoint_disabled",
        endpoint.id,
        reason=reason,
        last_status=last_status,
        failing_since=_iso(endpoint.failing_since),
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the worker next has something to send."""
    return await repository.next_due(session)


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
    await _audit(uow.session, by, "webhook.delivery_replayed", endpoint_id, delivery_id=str(delivery_id))
    _wake_worker(uow)
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
    await _audit(
        uow.session,
        by,
        "webhook.deliveries_replayed",
        endpoint_id,
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        statuses=list(window.statuses),
        count=count,
    )
    _wake_worker(uow)
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
    await _audit(uow.session, by, "webhook.deliveries_replayed", endpoint_id, count=count, via="cli")
    _wake_worker(uow)
    return count


async def finished_deliveries_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """Retention's dry run: deliveries (with their payloads and attempt logs) over before `cutoff`."""
    return await repository.finished_due(session, cutoff)


async def delete_finished_deliveries(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Retention: delete at most `limit` deliveries over before `cutoff`, payload and attempts
    included; pending ones are never touched. How many."""
    return await repository.delete_finished(session, cutoff, limit=limit)
