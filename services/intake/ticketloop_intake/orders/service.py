"""The rules of orders: a commerce system reports an order once (its own id is the natural
idempotency key), then its status changes; each change is announced with `order.recorded`
through the outbox. Flushes only; the unit of work commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers.service import customer_ids_for, key_for_sealing, pseudonym_of, seal_field
from ticketloop_intake.orders import domain, repository
from ticketloop_intake.orders.domain import KnownOrder
from ticketloop_intake.orders.models import Order
from ticketloop_intake.orders.schemas import OrderCreate
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.errors import Conflict, InvalidTransition, NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import OrderRecordedData, OrderStatus
from ticketloop_shared.ids import new_id

# A commerce system's clock may run a little ahead of ours; an order further in the future is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)
# How many of a customer's latest orders an order-status question is matched against.
ANSWER_CANDIDATES = 20


class OrderNotFound(NotFound):
    """The calling client reported no order with this id (another client's orders are invisible)."""

    code = "order_not_found"


@dataclass(frozen=True)
class Recorded:
    """An order after a report: `created` when this report made it, `replayed` when it changed nothing."""

    order: Order
    created: bool
    replayed: bool


def _announce(uow: IntakeUnit, order: Order, client: ChannelClientView) -> None:
    uow.emit(
        OrderRecordedData(
            order_id=order.order_id,
            customer_id=order.customer_id,
            channel_client=str(client.id),
            amount=domain.money(order.amount),
            currency=order.currency,
            status=OrderStatus(order.status),
            ordered_at=order.ordered_at,
            recorded_at=order.updated_at,
            revision=order.revision,
        ),
        subject=order.customer_id,
    )


async def record(uow: IntakeUnit, *, client: ChannelClientView, new: OrderCreate) -> Recorded:
    """Record a reported order and announce it. The same order reported again (same id, amount,
    currency, customer and moment, a status it has already reached) is a replay: the order as it
    stands, no second announcement. The same id with other facts is 409 `order_conflict`; a later
    status is 409 `order_exists` (report it with PATCH)."""
    now = uow.now()
    amount = domain.parse_amount(new.amount)
    if amount is None:  # the schema's pattern already refused it; kept for direct callers
        raise Unprocessable(f"amount {new.amount!r} is not a decimal string", code="invalid_amount")
    if new.ordered_at > now + FUTURE_TOLERANCE:
        raise Unprocessable(
            "ordered_at lies in the future",
            code="ordered_at_in_future",
            details={"ordered_at": new.ordered_at.isoformat(), "now": now.isoformat()},
        )
    customer_id = pseudonym_of(uow.settings, new.customer_id)
    key = await key_for_sealing(uow, customer_id)
    order = Order(
        id=new_id(),
        channel_client_id=client.id,
        order_id=new.order_id,
        customer_id=customer_id,
        customer_reference=seal_field(key, customer_id, "reference", new.customer_id),
        amount=amount,
        currency=new.currency,
        status=new.status.value,
        ordered_at=new.ordered_at,
        revision=1,
        created_at=now,
        updated_at=now,
    )
    if await repository.insert_new(uow.session, order):
        _announce(uow, order, client)
        return Recorded(order, created=True, replayed=False)
    existing = await repository.by_client_id(uow.session, client_id=client.id, order_id=new.order_id)
    assert existing is not None  # the insert found it
    _same_order(existing, order)
    if not domain.reached_later(new.status, OrderStatus(existing.status)):
        raise Conflict(
            f"order {new.order_id!r} is already recorded (status {existing.status}); report a status change "
            f"with PATCH /v1/orders/{new.order_id}",
            code="order_exists",
            details={"status": existing.status, "revision": existing.revision},
        )
    return Recorded(existing, created=False, replayed=True)


def _same_order(existing: Order, reported: Order) -> None:
    """A second report of an id must describe the same order."""
    differ = [
        name for name in ("customer_id", "currency", "ordered_at") if getattr(existing, name) != getattr(reported, name)
    ]
    if Decimal(existing.amount) != Decimal(reported.amount):
        differ.insert(0, "amount")
    if differ:
        raise Conflict(
            f"order {reported.order_id!r} was reported before with other facts ({', '.join(differ)})",
            code="order_conflict",
            details={"fields": differ},
        )


async def change_status(
    uow: IntakeUnit, *, client: ChannelClientView, order_id: str, status: OrderStatus, revision: int | None
) -> Order:
    """Record the order's new status and announce it (revision + 1). The status it already has
    changes nothing (no announcement); going back or leaving a final status is 409
    `invalid_transition`. With `revision` (from `If-Match`), an order changed since is 412."""
    order = await repository.by_client_id(uow.session, client_id=client.id, order_id=order_id, for_update=True)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r} of this client", details={"order_id": order_id})
    if revision is not None and revision != order.revision:
        raise PreconditionFailed(
            f"order {order_id!r} is at revision {order.revision}, not {revision}",
            code="order_changed",
            details={"revision": order.revision, "current_etag": f'"{order.revision}"'},
        )
    current = OrderStatus(order.status)
    if status is current:
        return order
    if not domain.may_change(current, status):
        raise InvalidTransition(
            f"an order {current.value} cannot become {status.value}",
            details={
                "from": current.value,
                "to": status.value,
                "allowed": sorted(s.value for s in domain.TRANSITIONS[current]),
            },
        )
    order.status = status.value
    order.revision += 1
    order.updated_at = uow.now()
    await uow.session.flush()
    _announce(uow, order, client)
    return order


async def read(session: AsyncSession, *, client: ChannelClientView, order_id: str) -> Order:
    """The client's own order, or `order_not_found`."""
    order = await repository.by_client_id(session, client_id=client.id, order_id=order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r} of this client", details={"order_id": order_id})
    return order


async def by_id(session: AsyncSession, id_: uuid.UUID) -> Order:
    """An order by intake's own id (for an Idempotency-Key's replay)."""
    order = await repository.get(session, id_)
    if order is None:
        raise OrderNotFound(f"no order with id {id_}")
    return order


async def answer_order_status(
    session: AsyncSession, settings: IntakeSettings, *, customer: str, category: str, need: str, text: str
) -> KnownOrder | None:
    """The order a new ticket asks about (`customer`: the channel's reference; `text`: subject and
    description), for the knowledge base's instant order-status answer; None when the ticket asks
    about no order or the customer has none (`domain.order_asked_about`). Costs no query unless
    the ticket asks for information."""
    if not domain.may_ask_about_an_order(need=need):
        return None
    rows = await repository.latest_of_customer(session, customer_ids_for(settings, customer), limit=ANSWER_CANDIDATES)
    known = [
        KnownOrder(order_id=r.order_id, status=OrderStatus(r.status), ordered_at=r.ordered_at, updated_at=r.updated_at)
        for r in rows
    ]
    return domain.order_asked_about(category=category, need=need, text=text, orders=known)


async def latest_of_customer(session: AsyncSession, customer_ids: Sequence[str]) -> Order | None:
    """The customer's latest order: how intake knows a customer who never filed a ticket (a care
    contact after an order is made for them)."""
    found = await repository.latest_of_customer(session, customer_ids, limit=1)
    return found[0] if found else None
