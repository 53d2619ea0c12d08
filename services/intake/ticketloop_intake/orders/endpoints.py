"""HTTP: a commerce system (a channel client, `X-Api-Key`) reports orders and their status
changes, and reads its own orders back.

- `POST /v1/orders` records a new order: 201. Reporting the same order again (its id, amount,
  currency, customer and `ordered_at`, a status it has reached) is a replay: 201 again with the
  order as it stands, `Idempotent-Replayed: true`, nothing announced twice. An `Idempotency-Key`
  is honoured as on tickets.
- `PATCH /v1/orders/{order_id}` `{"status": "shipped"}` records a status change: 200 and the new
  revision (`ETag`). `If-Match` is optional: the commerce system owns its orders' status, so a
  status webhook need not read first; send it to refuse a change made since (412).
- `GET /v1/orders/{order_id}`: the client's own order (another client's is 404).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from pydantic import BaseModel

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.idempotency.service import REPLAYED_HEADER, fingerprint, json_response, run_once
from ticketloop_intake.orders import domain, service
from ticketloop_intake.orders.models import Order
from ticketloop_intake.orders.schemas import OrderCreate, OrderOut, OrderStatusChange
from ticketloop_intake.unit import IntakeUnit, IntakeUowDep
from ticketloop_shared.api import IfMatch, etag, if_match_version
from ticketloop_shared.events import OrderStatus

router = APIRouter(prefix="/v1/orders", tags=["orders"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request with the same key to get the first response back, never a second effect.",
    ),
]
OrderIdPath = Annotated[str, Path(pattern=domain.ORDER_ID_PATTERN, description="The commerce system's order id")]
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid channel key"},
    404: {"description": "No such order of this client (`order_not_found`)"},
    409: {
        "description": "`order_conflict` (the id was reported with other facts), `order_exists` (report a status "
        "change with PATCH), `invalid_transition`, or an Idempotency-Key reused"
    },
    412: {"description": "`If-Match` names an older revision (`order_changed`)"},
    422: {"description": "Validation error (each problem with its field), `ordered_at_in_future`"},
}


def render(order: Order) -> OrderOut:
    """An order as its commerce system reads it back."""
    return OrderOut(
        order_id=order.order_id,
        customer_id=order.customer_id,
        amount=str(domain.money(order.amount)),
        currency=order.currency,
        status=OrderStatus(order.status),
        ordered_at=order.ordered_at,
        revision=order.revision,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def _answer(out: OrderOut, status_code: int, *, replayed: bool = False) -> Response:
    headers = {"ETag": etag(out.revision) or ""}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return json_response(out, status_code, headers)


async def _once(
    uow: IntakeUnit,
    request: Request,
    *,
    scope: str,
    key: str,
    body: BaseModel,
    status_code: int,
    act: Callable[[], Awaitable[tuple[uuid.UUID, OrderOut]]],
) -> Response:
    """Run `act` at most once per Idempotency-Key (as on tickets); a replay answers the first
    status with the order as it now stands."""

    async def rendered(order_id: uuid.UUID) -> OrderOut:
        return render(await service.by_id(uow.session, order_id))

    response = await run_once(
        uow.session,
        scope=scope,
        key=key,
        request_hash=fingerprint(request.method, request.url.path, body),
        status_code=status_code,
        action=act,
        render=rendered,
        now=uow.now(),
        ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
    )
    return response


@router.post("", status_code=201, response_model=OrderOut, responses=ERRORS)
async def report_order(
    body: OrderCreate, request: Request, uow: IntakeUowDep, client: ChannelDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """A commerce system reports an order; announced with `order.recorded` (customer by pseudonym)."""
    replayed = False

    async def act() -> tuple[uuid.UUID, OrderOut]:
        nonlocal replayed
        recorded = await service.record(uow, client=client, new=body)
        replayed = recorded.replayed
        return recorded.order.id, render(recorded.order)

    if idempotency_key is None:
        _, out = await act()
        return _answer(out, 201, replayed=replayed)
    response = await _once(
        uow, request, scope=f"channel:{client.id}", key=idempotency_key, body=body, status_code=201, act=act
    )
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


@router.get("/{order_id}", response_model=OrderOut, responses=ERRORS)
async def read_order(order_id: OrderIdPath, uow: IntakeUowDep, client: ChannelDep) -> Response:
    """One of the client's orders as it now stands (`ETag`: its revision)."""
    return _answer(render(await service.read(uow.session, client=client, order_id=order_id)), 200)


@router.patch("/{order_id}", response_model=OrderOut, responses=ERRORS)
async def change_order_status(
    order_id: OrderIdPath,
    body: OrderStatusChange,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The order's new status (announced with `order.recorded`, revision + 1); its current one
    changes nothing."""
    revision = if_match_version(if_match)

    async def act() -> tuple[uuid.UUID, OrderOut]:
        order = await service.change_status(
            uow, client=client, order_id=order_id, status=body.status, revision=revision
        )
        return order.id, render(order)

    if idempotency_key is None:
        _, out = await act()
        return _answer(out, 200)
    return await _once(
        uow, request, scope=f"channel:{client.id}", key=idempotency_key, body=body, status_code=200, act=act
    )
