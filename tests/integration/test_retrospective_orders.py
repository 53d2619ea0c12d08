"""retrospective's orders (issue 22, item 5) on a real PostgreSQL and broker, with an injected
clock: `order.recorded` becomes one order fact however often it is delivered; a customer's spend
is their purchases of the last 365 days and the top-20% line is drawn over every known customer,
including those who only ever ordered; a care rule anchored on orders fires once per order across
a restart; the repurchase rate of a segment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.builders import Story, create_order_recorded
from tests.support import RunningService, admin_headers, eventually, publish_and_apply, read_events, serve
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.care.models import CareTask
from ticketloop_retrospective.customers import scheduled as customer_jobs
from ticketloop_retrospective.orders.models import OrderFact
from ticketloop_retrospective.orders.service import repurchase_rate
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Envelope, OrderRecorded, OrderStatus, Topics
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
FAST = {"segment_sweep_check_seconds": 3600.0, "care_timer_max_idle_seconds": 0.2, "top_spend_refresh_minutes": 0.0}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@asynccontextmanager
async def retrospective(
    platform: PlatformSettings, database_url: str, clock: FrozenClock, **settings: Any
) -> AsyncIterator[RunningService]:
    config = RetrospectiveSettings(database_url=database_url, platform=platform, **{**FAST, **settings})
    async with serve(create_app(config, clock=clock)) as running:
        yield running


async def feed(service: RunningService, platform: PlatformSettings, events: Sequence[Envelope]) -> None:
    await publish_and_apply(service, platform, events)


def order(customer_id: str, amount: str, *, days_ago: float = 10, **extra: Any) -> OrderRecorded:
    """`order.recorded` of a new order of `customer_id`, ordered `days_ago` before T0."""
    return create_order_recorded(T0 - timedelta(days=days_ago), customer_id=customer_id, amount=amount, **extra)


def changed(event: OrderRecorded, status: OrderStatus, *, hours: float = 1) -> OrderRecorded:
    """The same order's next revision, at a new status."""
    data = event.data
    return create_order_recorded(
        data.recorded_at + timedelta(hours=hours),
        customer_id=data.customer_id,
        order_id=data.order_id,
        amount=str(data.amount),
        currency=data.currency,
        status=status,
        ordered_at=data.ordered_at,
        revision=data.revision + 1,
        channel_client=data.channel_client,
    )


async def customer(service: RunningService, customer_id: str) -> dict[str, Any]:
    r = await service.client.get(f"/v1/customers/{customer_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def anticipation_tasks(platform: PlatformSettings, customer_id: str) -> list[Any]:
    topic = Topics(platform.topic_prefix).for_family("care")
    return [
        e["data"]
        for e in await read_events(platform, topic, count=100_000, timeout=2)
        if e["type"] == "care.task_due.v1" and e["subject"] == customer_id and e["data"]["kind"] == "anticipation"
    ]


async def test_an_order_is_one_fact_however_often_and_in_whatever_order_it_is_delivered(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    placed = order("cus-o1", "100.00")
    shipped = changed(placed, OrderStatus.SHIPPED)
    cancelled = changed(shipped, OrderStatus.CANCELLED)
    copy = placed.model_copy(update={"id": uuid.uuid4()})  # the same fact re-emitted under a new id
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [placed, placed, copy, shipped])
        async with service.runtime.sessions() as session:
            facts = (await session.scalars(select(OrderFact))).all()
        assert [(f.order_id, f.status, f.revision) for f in facts] == [(placed.data.order_id, "shipped", 2)]
        body = await customer(service, "cus-o1")  # known from an order alone
        assert (body["annual_spend"], body["recent_purchases"], body["tickets"]["opened"]) == (100.0, 1, 0)
        assert body["last_interaction_at"] == placed.data.ordered_at.isoformat().replace("+00:00", "Z")
        # the newest revision wins, an older one arriving late changes nothing
        await feed(service, platform, [cancelled, shipped, placed])
        async with service.runtime.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OrderFact)) == 1
            fact = await session.scalar(select(OrderFact))
            assert fact is not None and (fact.status, fact.revision) == ("cancelled", 3)
        body = await customer(service, "cus-o1")
        assert (body["annual_spend"], body["recent_purchases"]) == (0.0, 0)  # a cancelled order is no purchase


async def test_the_top_20pct_of_spend_is_taken_over_every_known_customer_not_only_ticket_filers(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    filer = Story(created_at=T0, customer_id="cus-filer")
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        # Four customers who never filed a ticket, and one who did (reporting no spend): their
        # orders of the last year make five known spends, so a top-20% line exists.
        await feed(
            service,
            platform,
            [
                order("cus-b1", "100"),
                order("cus-b2", "200"),
                order("cus-b3", "300"),
                order("cus-b4", "400", days_ago=30),
                order("cus-b4", "0.50", currency="USD"),  # another currency: not in the spend
                order("cus-b5", "9000", days_ago=400),  # over a year ago: spends nothing this year
            ],
        )
        await feed(service, platform, [filer.created(customer_since=date(2026, 6, 1)), order("cus-filer", "450")])
        # six known spends (b5's is 0 this year); the line is the 2nd of 6 (ceil(6 × 0.2) = 2): 400,
        # and the filer's 450 is above it
        body = await customer(service, "cus-filer")
        assert (body["segment"], body["reasons"], body["annual_spend"]) == ("high_value", ["top_20pct_spend"], 450.0)
        # b4 was decided while only four spends were known (no line yet); the daily sweep notices
        assert (await customer(service, "cus-b4"))["segment"] == "new"
        clock.set(T0 + timedelta(hours=1))
        await customer_jobs.sweep(service.runtime)
        b4 = await customer(service, "cus-b4")
        assert (b4["segment"], b4["reasons"], b4["annual_spend"]) == ("high_value", ["top_20pct_spend"], 400.0)
        assert (await customer(service, "cus-b3"))["segment"] == "new"  # first seen at their order, 10 days ago


async def test_a_rule_anchored_on_orders_fires_once_per_order_across_redelivery_and_restart(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    database = await new_database("retrospective")
    rule = {"name": "delivery check", "anchor": "order", "offset_days": 3, "category": "logistics_delay"}
    first = order("cus-buyer", "59.00", days_ago=-1)  # ordered a day after the rule exists
    second = order("cus-buyer", "20.00", days_ago=-2)
    dropped = order("cus-buyer", "10.00", days_ago=-1, status=OrderStatus.CANCELLED)
    async with retrospective(platform, database, clock) as service:
        r = await service.client.put(
            "/v1/care-rules/delivery-check", json=rule, headers={**admin_headers(), "If-None-Match": "*"}
        )
        assert r.status_code == 201, r.text
        await feed(service, platform, [first, second, dropped, changed(first, OrderStatus.SHIPPED), first])
        clock.set(T0 + timedelta(days=4, hours=1))  # the first order's moment has come
        [task] = await eventually(lambda: anticipation_tasks(platform, "cus-buyer"))
        assert (task["rule"], task["category"], task["due_at"]) == (
            "delivery-check",
            "logistics_delay",
            (first.data.ordered_at + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
        )
        clock.set(T0 + timedelta(days=5, hours=1))  # and the second's

        async def both() -> list[Any] | None:
            found = await anticipation_tasks(platform, "cus-buyer")
            return found if len(found) >= 2 else None

        await eventually(both)
    clock.set(T0 + timedelta(days=8))
    async with retrospective(platform, database, clock) as service:
        await feed(service, platform, [first.model_copy(update={"id": uuid.uuid4()})])  # re-emitted after restart
        clock.set(T0 + timedelta(days=9))
        await asyncio.sleep(1.5)  # the care timer wakes every 0.2 s: several rounds over the same orders
        async with service.runtime.sessions() as session:
            rows = (await session.scalars(select(CareTask).where(CareTask.customer_id == "cus-buyer"))).all()
        assert sorted(t.order_ref or "" for t in rows if t.kind == "anticipation") == sorted(
            f"shop:{o.data.order_id}" for o in (first, second)
        )
    found = await anticipation_tasks(platform, "cus-buyer")
    assert len(found) == 2  # one per purchase; none for the cancelled order
    assert len({t["task_id"] for t in found}) == 2


async def test_the_repurchase_rate_is_the_share_of_a_segments_buyers_who_buy_again(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    loyal = date(2020, 1, 1)  # more than 12 months: high_value
    stories = {c: Story(created_at=T0 - timedelta(days=40), customer_id=c) for c in ("cus-l1", "cus-l2", "cus-l3")}
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [s.created(customer_since=loyal) for s in stories.values()])
        await feed(service, platform, [order("cus-l1", "80", days_ago=20), order("cus-l2", "90", days_ago=15)])
        start, end = T0 + timedelta(hours=1), T0 + timedelta(days=30)
        clock.set(T0 + timedelta(days=10))
        await feed(
            service,
            platform,
            [
                order("cus-l1", "50", days_ago=-5),  # bought again in the period
                order("cus-l3", "70", days_ago=-6),  # a first purchase: not a repurchase, not in the cohort
                order("cus-l2", "60", days_ago=-7, status=OrderStatus.CANCELLED),  # no purchase
            ],
        )
        async with service.runtime.sessions() as session:
            assert await repurchase_rate(session, segment="high_value", start=start, end=end) == 50.0
            assert await repurchase_rate(session, segment=None, start=start, end=end) == 50.0
            assert await repurchase_rate(session, segment="churn_risk", start=start, end=end) is None
            # before anyone had bought twice
            assert (
                await repurchase_rate(session, segment="high_value", start=start, end=start + timedelta(days=1)) == 0.0
            )
