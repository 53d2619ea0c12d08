"""All SQL of webhooks: endpoints, deliveries (claimed by the worker with SKIP LOCKED, one in
flight per endpoint and ticket) and attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.webhooks.domain import DeliveryStatus, EndpointStatus, Owner
from ticketloop_intake.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


async def endpoints_of(
    session: AsyncSession, owner: Owner, channel_client_id: uuid.UUID | None
) -> Sequence[WebhookEndpoint]:
    """An owner's endpoints, oldest first."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.owner == owner.value)
    if owner is Owner.CHANNEL:
        stmt = stmt.where(WebhookEndpoint.channel_client_id == channel_client_id)
    return (await session.scalars(stmt.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))).all()


async def endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """One endpoint; `for_update` locks it for a change: `FOR NO KEY UPDATE`, which leaves the
    key share that inserting a delivery for it takes (an event's fan-out, in the transaction of
    a ticket's change) free. A plain `FOR UPDATE` here, held while recording an acknowledgement
    that updates the ticket, deadlocked against a resolve fanning out to the same endpoint."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    return await session.scalar(stmt)


async def endpoints(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WebhookEndpoint]:
    """Endpoints by id."""
    if not ids:
        return {}
    found = await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(set(ids))))
    return {e.id: e for e in found}


async def any_channel_endpoint(session: AsyncSession) -> bool:
    """Whether any channel has subscribed anything (most installs have no subscriber: the fan-out
    then costs no query per event)."""
    found = await session.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.owner == Owner.CHANNEL.value).limit(1)
    )
    return found is not None


async def channel_endpoints(session: AsyncSession, channel_client_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str]]]:
    """A channel client's endpoints that take new deliveries (active or paused: a paused endpoint
    gets them on resume; a disabled one does not), each with the event types it wants."""
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.owner == Owner.CHANNEL.value,
            WebhookEndpoint.channel_client_id == channel_client_id,
            WebhookEndpoint.status != EndpointStatus.DISABLED.value,
        )
    )
    return [(r[0], list(r[1])) for r in rows]


async def admin_endpoints(session: AsyncSession) -> Sequence[tuple[uuid.UUID, list[str]]]:
    """Every admin endpoint taking new deliveries, with its event types."""
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.owner == Owner.ADMIN.value, WebhookEndpoint.status != EndpointStatus.DISABLED.value
        )
    )
    return [(r[0], list(r[1])) for r in rows]


_ADD = text(
    """
    INSERT INTO webhook_deliveries
        (id, endpoint_id, event_id, event_type, order_key, customer_id, payload, status, attempts,
         next_attempt_at, created_at)
    SELECT v.id, v.endpoint_id, v.event_id, v.event_type, v.order_key, v.customer_id, v.payload,
           'pending', 0, v.at, v.at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:endpoint_ids AS uuid[]), CAST(:event_ids AS uuid[]),
                CAST(:event_types AS text[]), CAST(:order_keys AS text[]), CAST(:customer_ids AS text[]),
                CAST(:payloads AS bytea[]), CAST(:ats AS timestamptz[]))
         AS v(id, endpoint_id, event_id, event_type, order_key, customer_id, payload, at)
    JOIN webhook_endpoints e ON e.id = v.endpoint_id
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert pending deliveries in one statement; one already there for the same event and
    endpoint is kept (dedup), and one whose endpoint is gone is not written (the endpoints may
    come from a cache a second old). Core SQL: the ORM's bulk insert cost more than the rest of
    the fan-out together."""
    if not rows:
        return 0
    result = await session.execute(
        _ADD,
        {
            "ids": [r["id"] for r in rows],
            "endpoint_ids": [r["endpoint_id"] for r in rows],
            "event_ids": [r["event_id"] for r in rows],
            "event_types": [r["event_type"] for r in rows],
            "order_keys": [r["order_key"] for r in rows],
            "customer_ids": [r["customer_id"] for r in rows],
            "payloads": [r["payload"] for r in rows],
            "ats": [r["next_attempt_at"] for r in rows],
        },
    )
    return len(result.all())


@dataclass(frozen=True)
class Claimed:
    """A delivery the worker holds for one attempt."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    customer_id: str | None
    payload: bytes
    attempts: int
    event_type: str = ""


_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.status = 'active'
        WHERE d.status = 'pending' AND d.next_attempt_at <= :now
          AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries p
              WHERE p.endpoint_id = d.endpoint_id AND p.order_key = d.order_key
                AND p.status = 'pending' AND p.seq < d.seq)
        ORDER BY d.next_attempt_at, d.seq
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries w SET next_attempt_at = :lease_until
    FROM due WHERE w.id = due.id
    RETURNING w.id, w.endpoint_id, w.customer_id, w.payload, w.attempts, w.event_type
    """
)


async def claim_due(session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries, each the oldest pending one of its endpoint and ticket
    (so one is in flight per endpoint and ticket, in order), and lease them until `lease_until`:
    another replica skips them, and a worker that dies mid-send leaves them due again after it."""
    rows = await session.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})
    return [Claimed(r.id, r.endpoint_id, r.customer_id, bytes(r.payload), r.attempts, r.event_type) for r in rows]


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest instant a pending delivery of an active endpoint is due."""
    return await session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookEndpoint.status == EndpointStatus.ACTIVE.value,
        )
    )


async def delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, for_update: bool = False
) -> WebhookDelivery | None:
    """One delivery (`for_update`: `FOR NO KEY UPDATE`, as for an endpoint: an attempt's insert
    takes a key share on it)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    return await session.scalar(stmt)


_DELIVERED = text(
    """
    UPDATE webhook_deliveries d
    SET status = 'delivered', attempts = d.attempts + 1, last_attempt_at = v.at, last_status = v.code,
        delivered_at = v.at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:codes AS integer[])) AS v(id, at, code)
    WHERE d.id = v.id AND d.status = 'pending'
    RETURNING d.id, d.endpoint_id, d.event_type, d.order_key
    """
)

_RECOVERED = text(
    "UPDATE webhook_endpoints SET failing_since = NULL "
    "WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NOT NULL"
)


@dataclass(frozen=True)
class Delivered:
    """A delivery that a 2xx just moved to `delivered`."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_type: str
    order_key: str


async def mark_delivered(session: AsyncSession, outcomes: Sequence[tuple[uuid.UUID, datetime, int]]) -> list[Delivered]:
    """Move the `(id, at, status)` deliveries that are still pending to `delivered` and clear
    their endpoints' failing streak, in two statements whatever the batch size (the worker's
    hot path: a statement per delivery capped it near a hundred a second). A delivery no
    longer pending (its endpoint deleted, a replay raced the attempt) is left as it is."""
    if not outcomes:
        return []
    rows = await session.execute(
        _DELIVERED,
        {"ids": [o[0] for o in outcomes], "ats": [o[1] for o in outcomes], "codes": [o[2] for o in outcomes]},
    )
    done = [Delivered(r.id, r.endpoint_id, r.event_type, r.order_key) for r in rows]
    if done:
        # Only an endpoint that was failing is written (and locked): the common case writes none.
        await session.execute(_RECOVERED, {"ids": sorted({d.endpoint_id for d in done})})
    return done


_ATTEMPTS = text(
    """
    INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, response, error)
    SELECT * FROM unnest(CAST(:delivery_ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:codes AS integer[]),
                         CAST(:latencies AS integer[]), CAST(:responses AS text[]), CAST(:errors AS text[]))
    """
)


async def add_attempts(session: AsyncSession, attempts: Sequence[dict[str, Any]]) -> None:
    """Log attempts, in one statement (of the same text whatever their number: a multi-row
    insert was compiled again for every batch)."""
    if attempts:
        await session.execute(
            _ATTEMPTS,
            {
                "delivery_ids": [a["delivery_id"] for a in attempts],
                "ats": [a["at"] for a in attempts],
                "codes": [a["status_code"] for a in attempts],
                "latencies": [a["latency_ms"] for a in attempts],
                "responses": [a["response"] for a in attempts],
                "errors": [a["error"] for a in attempts],
            },
        )


async def deliveries(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if since is not None:
        stmt = stmt.where(WebhookDelivery.created_at >= since)
    if until is not None:
        stmt = stmt.where(WebhookDelivery.created_at < until)
    return (await session.scalars(stmt.order_by(WebhookDelivery.seq.desc()).limit(limit))).all()


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[WebhookAttempt]:
    """A delivery's attempts, oldest first."""
    return (
        await session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)
        )
    ).all()


async def replay_range(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
    statuses: Sequence[str],
    now: datetime,
) -> int:
    """Send again every delivery of an endpoint created in [since, until) in one of `statuses`
    (same ids: receivers deduplicate), in their original order; how many."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.created_at >= since,
            WebhookDelivery.created_at < until,
            WebhookDelivery.status.in_(list(statuses)),
        )
        .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now)
        .returning(WebhookDelivery.id)
    )
    return len(result.all())


async def ids_in_range(
    session: AsyncSession, endpoint_id: uuid.UUID, *, since: datetime, until: datetime, statuses: Sequence[str]
) -> list[uuid.UUID]:
    """The ids of an endpoint's deliveries created in [since, until) in one of `statuses`, in order."""
    found = await session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.created_at >= since,
            WebhookDelivery.created_at < until,
            WebhookDelivery.status.in_(list(statuses)),
        )
        .order_by(WebhookDelivery.seq)
    )
    return list(found)


async def requeue(session: AsyncSession, ids: Sequence[uuid.UUID], *, now: datetime) -> int:
    """Make these deliveries pending again, due now, with a fresh set of attempts."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(ids)), WebhookDelivery.status != DeliveryStatus.ERASED.value)
        .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now)
        .returning(WebhookDelivery.id)
    )
    return len(result.all())


# Retention: a delivery that is over (sent, given up, or no longer to be sent) is past its limit
# once it has been over that long; `created_at` is the indexed bound (it precedes the end).
def _finished_before(cutoff: datetime) -> list[Any]:
    ended = func.coalesce(WebhookDelivery.delivered_at, WebhookDelivery.last_attempt_at, WebhookDelivery.created_at)
    # The status as the index's predicate (a constant), so the planner can use it.
    return [text("webhook_deliveries.status <> 'pending'"), WebhookDelivery.created_at < cutoff, ended < cutoff]


async def finished_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """How many deliveries ended before `cutoff`, and the oldest one's creation."""
    row = (
        await session.execute(
            select(func.count(), func.min(WebhookDelivery.created_at)).where(*_finished_before(cutoff))
        )
    ).one()
    return int(row[0]), row[1]


async def delete_finished(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Delete at most `limit` deliveries that ended before `cutoff`, their attempts with them
    (the foreign key cascades); how many deliveries."""
    chosen = (
        select(WebhookDelivery.id)
        .where(*_finished_before(cutoff))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(chosen)))
    return int(getattr(result, "rowcount", 0) or 0)
