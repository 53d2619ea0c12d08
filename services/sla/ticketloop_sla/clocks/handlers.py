"""Events sla reacts to: every ticket event starts the ticket's clocks if they are missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.clock import Clock
from ticketloop_shared.errors import DomainError, PermanentEventError
from ticketloop_shared.events import EventType, TicketCreated, TicketReplied, TicketResolved
from ticketloop_shared.messaging.consumer import Handler
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.targets import ResponseTargets
from ticketloop_sla.clocks import service


@contextmanager
def _dead_letter_domain_errors() -> Iterator[None]:
    # A clock in a state its lifecycle does not allow will not heal on retry: park the event at once.
    try:
        yield
    except DomainError as exc:
        raise PermanentEventError(exc.message) from exc


def build_handlers(*, targets: ResponseTargets, outbox: Outbox, clock: Clock) -> dict[str, Handler]:
    """The handlers, bound to the targets they measure against and the outbox they announce through."""

    async def on_ticket_created(session: AsyncSession, event: TicketCreated) -> None:
        """A new ticket starts its first-response and resolution clocks."""
        await service.start_clocks(session, ticket=event.data, targets=targets, now=clock.now())

    async def on_ticket_replied(session: AsyncSession, event: TicketReplied) -> None:
        """An agent's reply stops the first-response clock."""
        with _dead_letter_domain_errors():
            await service.record_reply(
                session, data=event.data, targets=targets, outbox=outbox, now=clock.now(), context=event.context()
            )

    async def on_ticket_resolved(session: AsyncSession, event: TicketResolved) -> None:
        """Resolution stops the resolution clock (and first response, if still running)."""
        with _dead_letter_domain_errors():
            await service.record_resolution(
                session, data=event.data, targets=targets, outbox=outbox, now=clock.now(), context=event.context()
            )

    return {
        EventType.TICKET_CREATED: on_ticket_created,
        EventType.TICKET_REPLIED: on_ticket_replied,
        EventType.TICKET_RESOLVED: on_ticket_resolved,
    }
