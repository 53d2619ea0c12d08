"""Events feedback reacts to."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_shared.events import EventType, TicketResolved
from ticketloop_shared.messaging.consumer import Handler
from ticketloop_shared.runtime import Runtime


def handlers(runtime: Runtime, *, settings: FeedbackSettings) -> dict[str, Handler]:
    """The handler map, bound to the running service's outbox and clock and to feedback's settings."""
    ttl = timedelta(days=settings.survey_ttl_days)

    async def on_ticket_resolved(session: AsyncSession, event: TicketResolved) -> None:
        """Ask the customer how it went, once per ticket."""
        await service.open_survey(
            session,
            resolved=event,
            outbox=runtime.outbox,
            clock=runtime.clock,
            public_base_url=settings.public_base_url,
            ttl=ttl,
        )

    return {EventType.TICKET_RESOLVED: on_ticket_resolved}
