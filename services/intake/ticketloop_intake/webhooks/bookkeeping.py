"""The delivery worker's bookkeeping: claim a batch (its bodies opened, its signing secrets),
and record how each attempt went (the sending itself is in `scheduled.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.customers.service import keys_for_opening, open_field
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import domain, repository
from ticketloop_intake.webhooks.domain import (
    ChannelEvent,
    DeliveryStatus,
    EndpointStatus,
    Owner,
    RetryPolicy,
    Verdict,
)
from ticketloop_intake.webhooks.fanout import forget_subscriptions, iso
from ticketloop_intake.webhooks.models import WebhookEndpoint
from ticketloop_intake.webhooks.service import Subscriber, record_audit, signing_secrets, touch
from ticketloop_shared.events import (
    WebhookEndpointDisabledData,
)

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
    # The customer's channel has the acknowledgement: that meets its clock.
    acknowledged = [
        (uuid.UUID(d.order_key), by_id[d.id].at) for d in done if d.event_type == ChannelEvent.ACKNOWLEDGED.value
    ]
    await tickets.acknowledge_many(uow, acknowledged, via="webhook")


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
    touch(endpoint, now)
    forget_subscriptions(uow.session)
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
    await record_audit(
        uow.session,
        system,
        "webhook.endpoint_disabled",
        endpoint.id,
        reason=reason,
        last_status=last_status,
        failing_since=iso(endpoint.failing_since),
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the worker next has something to send."""
    return await repository.next_due(session)
