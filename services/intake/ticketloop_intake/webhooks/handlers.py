"""Events in: every catalog event, read by a consumer of its own (group `<prefix>.intake-webhooks`),
becomes a delivery for each admin endpoint subscribed to its type. The (endpoint, event) key
makes a redelivered event add nothing. A subscription made on another replica is seen by this
consumer within `INTEREST_TTL_SECONDS` (events of its types in that second are not sent to it)."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import fanout
from ticketloop_shared.events import Envelope, EventType
from ticketloop_shared.runtime import SideConsumer
from ticketloop_shared.unit_of_work import BatchHandler

CONSUMER_NAME = "webhooks"


async def fan_out_to_admins(uow: IntakeUnit, events: Sequence[Envelope]) -> None:
    """A run of catalog events: one query for the admin endpoints, one insert for the deliveries."""
    await fanout.deliver_to_admins(uow, events)


def admin_consumer(settings: IntakeSettings) -> SideConsumer:
    """The consumer: every event type to the one batch handler (none when turned off), but only
    the types some admin endpoint subscribes to are decoded (without one, the consumer only
    reads headers). No inbox: the (endpoint, event) key already makes a repeat add nothing."""
    if not settings.webhooks_admin_consumer:
        return SideConsumer({})
    batch = BatchHandler(fan_out_to_admins)
    return SideConsumer(
        {event_type.value: batch for event_type in EventType}, interest=fanout.admin_interest, dedup=False
    )
