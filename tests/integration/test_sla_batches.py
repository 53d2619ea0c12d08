"""sla applies a consumer batch of a ticket's events as it applies them one transaction at a
time: the same clocks, the same ticket row, the same announcements in the same order, and a
redelivered event is a no-op either way. `save` writes a batch's rows once each, as they end the
batch, and leaves a row nothing changed alone; this is what shows that costs nothing in results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.builders import T0, Story
from tests.support import RunningService, serve
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Envelope
from ticketloop_shared.messaging.inbox import claim_many
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app
from ticketloop_sla.clocks import service
from ticketloop_sla.clocks.models import SlaClock, SlaTicket
from ticketloop_sla.settings import SlaSettings

MIN = timedelta(minutes=1)
_PUBLICATIONS = {"sla.policy_changed.v1", "sla.calendar_changed.v1"}


@asynccontextmanager
async def quiet_sla(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    """sla with neither consumer nor timer: the test hands it its batches and timer visits."""
    settings = SlaSettings(
        database_url=await new_database("sla"), platform=platform, consumer_enabled=False, timer_enabled=False
    )
    async with serve(create_app(settings, clock=clock), wait_consumer=False) as running:
        yield running


async def deliver(sla: RunningService, events: Sequence[Envelope]) -> None:
    """One consumer batch as the consumer applies it: the inbox drops what was handled, then
    the run goes to sla's batch handler."""
    async with sla.runtime.unit_of_work() as uow:
        inbox = sla.runtime.spec.messaging.inbox
        fresh = await claim_many(uow.session, inbox, consumer="sla", events=[(e.id, e.type) for e in events])
        run = []
        for e in events:
            if e.id in fresh:
                fresh.discard(e.id)
                run.append(e)
        if run:
            await service.apply(uow, run)


async def visit(sla: RunningService) -> None:
    async with sla.runtime.unit_of_work() as uow:
        await service.fire_due(uow, limit=100)


async def state(sla: RunningService) -> dict[str, Any]:
    """What sla stored and announced, without the instants of writing and the publication count."""
    outbox = sla.runtime.spec.messaging.outbox
    async with sla.runtime.sessions() as session:
        tickets = [
            {c: v for c, v in row._asdict().items() if c not in ("updated_at", "version")}
            for row in (await session.execute(select(SlaTicket.__table__))).all()
        ]
        clocks = [
            {c: v for c, v in row._asdict().items() if c != "updated_at"}
            for row in (
                await session.execute(
                    select(SlaClock.__table__).order_by(SlaClock.ticket_id, SlaClock.kind, SlaClock.cycle)
                )
            ).all()
        ]
        rows = (await session.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
    announced = [(r.event_type, r.payload) for r in rows if r.event_type not in _PUBLICATIONS]
    said = [a for a in announced if a[0] != "sla.clocks_changed.v1"]
    last_published = [a for a in announced if a[0] == "sla.clocks_changed.v1"][-1:]
    return {"tickets": tickets, "clocks": clocks, "said": said, "clocks_changed_last": last_published}


def _without_ids(announced: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    import json

    out = []
    for kind, payload in announced:
        body = json.loads(payload)
        out.append((kind, {k: v for k, v in body["data"].items() if k not in ("changed_at", "version")}))
    return out


async def test_a_batch_of_a_tickets_events_ends_as_the_same_events_one_transaction_at_a_time(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    story = Story(channel="phone")
    created = story.created()
    assigned = story.assigned(T0 + MIN, cause=created)
    events: list[Envelope] = [
        created,
        story.status_changed(T0 + MIN, "pending_assignment", "in_progress", action="assign"),
        assigned,
        story.connected(T0 + 2 * MIN),
        story.message_received(T0 + 3 * MIN),
        assigned,  # redelivered in the same batch
        story.replied(T0 + 4 * MIN),
        story.message_received(T0 + 5 * MIN),
        story.message_received(T0 + 6 * MIN),  # the next-reply clock already runs: moves no clock
        story.status_changed(T0 + 7 * MIN, "in_progress", "waiting_on_customer", action="wait"),
        story.message_received(T0 + 150 * 1e-3 * MIN),  # late: older than what was applied
        story.reassigned(T0 + 8 * MIN),
    ]
    # A redelivery from an earlier batch, then news. A run applies segment changes after its
    # ticket events, so they come last here too; and not in the batch with the late event above:
    # a rebuild takes the customer's segment as it stands at the end of the batch (`replay`).
    later = [
        assigned,
        story.status_changed(T0 + 9 * MIN, "waiting_on_customer", "in_progress", action="resume"),
        story.segment_changed(T0 + 9 * MIN, segment="high_value"),  # a policy of its own
        Story(customer_id="cust-without-tickets").segment_changed(T0 + 9 * MIN, segment="new"),
        story.segment_changed(T0 + 8 * MIN, segment="new"),  # older than the one above: ignored
    ]

    results = []
    for batched in (False, True):
        clock = FrozenClock(T0 + 10 * MIN)
        async with quiet_sla(platform, new_database, clock) as sla:
            for run in (events, later):
                if batched:
                    await deliver(sla, run)
                else:
                    for e in run:
                        await deliver(sla, [e])
            for minutes in (12, 16, 30, 130):  # warnings, breaches, escalations
                clock.set(T0 + minutes * MIN)
                await visit(sla)
            results.append(await state(sla))

    one_at_a_time, batch = results
    assert batch["tickets"] == one_at_a_time["tickets"]
    assert batch["clocks"] == one_at_a_time["clocks"]
    assert len(batch["clocks"]) >= 5
    assert _without_ids(batch["said"]) == _without_ids(one_at_a_time["said"])
    assert len(batch["said"]) >= 3  # breaches and escalations were announced
    assert {t["segment"] for t in batch["tickets"]} == {"high_value"}
    assert _without_ids(batch["clocks_changed_last"]) == _without_ids(one_at_a_time["clocks_changed_last"])
