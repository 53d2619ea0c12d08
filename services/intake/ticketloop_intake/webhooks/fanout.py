"""The fan-out: the deliveries an event calls for, written in the transaction that emits it.

A channel's payloads carry the customer's texts and links, so they are built here (where the
sealed texts open) and stored sealed with the customer's key: erasing the customer makes a
pending payload unreadable, and it is never sent. Admin payloads are the catalog's PII-free
envelopes, exactly as on the topics. What is subscribed is cached per process for a second
(forgotten at once on a change made in this process), so an event no one subscribes to costs
no query.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.customers.service import clear, key_for_sealing, seal_field
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.tickets.service import ChannelFacts
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import domain, repository
from ticketloop_intake.webhooks.domain import (
    SURVEY_URL,
    ChannelEvent,
    DeliveryStatus,
)
from ticketloop_shared.events import (
    Envelope,
    SurveySentV2,
    TicketClosed,
    TicketCreated,
    TicketPlanCommitted,
    TicketReopened,
    TicketResolved,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.notices import notify
from ticketloop_shared.state import Slot, state_of

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Remembered(Generic[K, V]):
    """What a subscription query answered, per database and key, for `ttl` seconds: a ticket
    event, or the admin consumer's poll batch, then costs no webhook query. A change made in this
    process counts at once (`forget`); one made in another replica within `ttl`."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._known: dict[tuple[str, K], tuple[float, V]] = {}

    async def get(self, session: AsyncSession, key: K, load: Callable[[], Awaitable[V]]) -> V:
        slot = (str(session.get_bind().engine.url), key)
        hit = self._known.get(slot)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if len(self._known) > 10_000:
            self._known.clear()
        found = await load()
        self._known[slot] = (time.monotonic() + self.ttl, found)
        return found

    def forget(self) -> None:
        self._known.clear()


# Whether any channel has an endpoint: with no channel subscriber, ticket events cost nothing.
_PRESENCE: Slot[_Remembered[None, bool]] = Slot("webhook channel presence", lambda: _Remembered(2.0))
# The event types admin endpoints subscribe to (a type of a second-old change is not sent).
_ADMIN_TYPES: Slot[_Remembered[None, frozenset[str]]] = Slot("webhook admin event types", lambda: _Remembered(1.0))
# Each channel client's endpoints with the types they want (an endpoint deleted meanwhile gets
# nothing: the insert joins the endpoints).
_CHANNEL_ENDPOINTS: Slot[_Remembered[uuid.UUID, list[tuple[uuid.UUID, list[str]]]]] = Slot(
    "webhook channel endpoints", lambda: _Remembered(1.0)
)

# Set once a transaction that wrote deliveries due now committed: the worker of this process
# sends them at once instead of at its next poll.
DUE_NOW = Slot("webhook deliveries due now", asyncio.Event)


# The same, for every intake process (the `webhooks replay` command runs in a process of its
# own): a PostgreSQL notice at commit. Only the admin paths send it (test event, resume, replay);
# the fan-out of events, the hot path, wakes its own process only.
DUE_NOTICE = "ticketloop_webhook_deliveries"


def wake_worker(uow: IntakeUnit) -> None:
    uow.after_commit(uow.state[DUE_NOW].set)


async def wake_every_worker(uow: IntakeUnit) -> None:
    """Deliveries queued by an operator: every intake process's worker looks at once."""
    wake_worker(uow)
    await notify(uow.session, DUE_NOTICE)


def forget_subscriptions(session: AsyncSession) -> None:
    """This process changed a subscription: what the caches say is asked again."""
    state = state_of(session)
    state[_PRESENCE].forget()
    state[_ADMIN_TYPES].forget()
    state[_CHANNEL_ENDPOINTS].forget()


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def delivery_body(delivery_id: uuid.UUID, event_type: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body every delivery sends: Standard Webhooks' `type`/`timestamp`/`data`, and the
    delivery's `id` (the same as the `webhook-id` header)."""
    return json.dumps(
        {"id": str(delivery_id), "type": event_type, "timestamp": at.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def envelope_body(delivery_id: uuid.UUID, event_type: str, at: datetime, envelope_json: str) -> str:
    """`delivery_body` of an admin delivery, whose `data` is the event's envelope already in JSON
    (compact, as pydantic writes it): spliced in rather than parsed and written again."""
    head = json.dumps(
        {"id": str(delivery_id), "type": event_type, "timestamp": at.isoformat()},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f'{head[:-1]},"data":{envelope_json}}}'


def delivery_row(
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


# ---------------------------------------------------------------------------------------------
# Channel payloads: one builder per channel event. `ticket.acknowledged` (issue 20 item 3) is
# added by writing its builder and mapping its catalog event in `domain.channel_event_for`.

Builder = Callable[[Envelope, ChannelFacts], dict[str, Any]]


def _message(facts: ChannelFacts) -> dict[str, Any] | None:
    if facts.entry_id is None:
        return None
    # Attachments: the attachments feature lists them here once timeline entries carry them.
    return {"id": str(facts.entry_id), "text": facts.text, "attachments": [], "sent_at": iso(facts.entry_at)}


def _with_message(_: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    return {"message": _message(facts)}


def _plan(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketPlanCommitted)
    return {"message": _message(facts), "committed_resolution_at": iso(event.data.committed_resolution_at)}


def _resolved(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketResolved)
    link = facts.link
    return {
        "message": _message(facts),
        "resolved_at": iso(event.data.resolved_at),
        "self_service": event.data.self_service,
        # The customer's no-login link: GET shows the ticket, POST …/confirm closes it, POST
        # …/reopen (body {"reason": "…"}) reopens it, until `links_expire_at`.
        "link_url": link,
        "confirm_url": f"{link}/confirm" if link else None,
        "reopen_url": f"{link}/reopen" if link else None,
        "links_expire_at": iso(facts.link_expires_at),
    }


def _closed(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketClosed)
    return {"closed_at": iso(event.data.closed_at), "automatic": event.data.automatic}


def _reopened(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketReopened)
    return {"reopened_at": iso(event.data.reopened_at), "reason": event.data.reason}


def _acknowledged(event: Envelope, facts: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, TicketCreated)
    return {
        "accepted_at": iso(event.data.created_at),
        "department": {"id": facts.department_id, "name": facts.department_name} if facts.department_id else None,
        "owner": {"id": facts.assignee_id, "name": facts.assignee_name} if facts.assignee_id else None,
        "deadlines": {
            "acknowledgement_due": iso(facts.acknowledgement_due),
            "first_response_due": iso(facts.first_response_due),
            "resolution_due": iso(facts.resolution_due),
        },
    }


def _survey_due(event: Envelope, _: ChannelFacts) -> dict[str, Any]:
    assert isinstance(event, SurveySentV2)
    # `survey_url` is filled in when the delivery is sent (`survey_links.py`): the link is
    # feedback's credential, never stored here nor carried on a topic.
    return {
        "survey_id": str(event.data.survey_id),
        "kind": event.data.kind.value,
        "expires_at": iso(event.data.expires_at),
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
    session = uow.session
    if not wanted or not await uow.state[_PRESENCE].get(
        session, None, lambda: repository.any_channel_endpoint(session)
    ):
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
    subscribed = await uow.state[_CHANNEL_ENDPOINTS].get(
        uow.session, channel_client_id, lambda: repository.channel_endpoints(uow.session, channel_client_id)
    )
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
        body = delivery_body(delivery_id, kind.value, event.time, data).decode()
        rows.append(
            delivery_row(
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
    wake_worker(uow)
    if kind is ChannelEvent.ACKNOWLEDGED:
        # Its 2xx, not a read-back, will meet the acknowledgement clock.
        await tickets.acknowledgement_queued(uow, ticket_id)


async def admin_interest(session: AsyncSession) -> frozenset[str]:
    """The event types some admin endpoint (not disabled) subscribes to: the admin consumer
    decodes only these."""

    async def load() -> frozenset[str]:
        return frozenset(t for _, types in await repository.admin_endpoints(session) for t in types)

    return await state_of(session)[_ADMIN_TYPES].get(session, None, load)


async def deliver_to_admins(uow: IntakeUnit, events: Sequence[Envelope]) -> int:
    """A delivery per admin endpoint subscribed to each event's type, with the event's envelope
    as on the topic (PII-free by the catalog's rule) as `data`; a redelivered event adds none."""
    subscribed = await repository.admin_endpoints(uow.session)
    if not subscribed:
        return 0
    now, rows = uow.now(), []
    for event in events:
        wire: str | None = None
        for endpoint_id, types in subscribed:
            if event.type not in types:
                continue
            # The envelope as on the topic, serialised once for every endpoint and spliced in.
            wire = wire if wire is not None else event.model_dump_json()
            delivery_id = new_id()
            rows.append(
                delivery_row(
                    delivery_id=delivery_id,
                    endpoint_id=endpoint_id,
                    event_id=event.id,
                    event_type=str(event.type),
                    order_key=event.subject,
                    payload=clear(envelope_body(delivery_id, str(event.type), event.time, wire)),
                    now=now,
                )
            )
    added = await repository.add_deliveries(uow.session, rows)
    if added:
        wake_worker(uow)
    return added
