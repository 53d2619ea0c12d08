"""Events in: every catalog event, read by a consumer of its own (group `<prefix>.intake-webhooks`),
becomes a delivery for each admin endpoint subscribed to its type. The inbox of that group and
the (endpoint, event) key make a redelivered event add nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import service
from ticketloop_shared.events import Envelope, EventType
from ticketloop_shared.unit_of_work import BatchHandler, Handler

CONSUMER_NAME = "webhooks"


async def fan_out_to_admins(uow: IntakeUnit, events: Sequence[Envelope]) -> None:
    """A run of catalog events: one query for the admin endpoints, one insert for the deliveries."""
    await service.deliver_to_admins(uow, events)


def admin_handlers(settings: IntakeSettings) -> Mapping[str, Handler]:
    """The consumer's map: every event type to the one batch handler (none when turned off)."""
    if not settings.webhooks_admin_consumer:
        return {}
    batch = BatchHandler(fan_out_to_admins)
    return {event_type.value: batch for event_type in EventType}
