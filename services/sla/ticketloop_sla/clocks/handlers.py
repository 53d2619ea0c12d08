"""Events sla reacts to: every ticket event starts the ticket's clocks if they are missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ticketloop_shared.errors import DomainError, PermanentEventError
from ticketloop_shared.events import TicketCreated, TicketReplied, TicketResolved
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork
from ticketloop_sla.clocks import service
from ticketloop_sla.settings import SlaSettings

HANDLERS = Handlers[SlaSettings]()


@contextmanager
def _dead_letter_domain_errors() -> Iterator[None]:
    # A clock in a state its lifecycle does not allow will not heal on retry: park the event at once.
    try:
        yield
    except DomainError as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on(TicketCreated)
async def on_ticket_created(uow: UnitOfWork[SlaSettings], event: TicketCreated) -> None:
    """A new ticket starts its first-response and resolution clocks."""
    await service.start_clocks(uow.session, ticket=event.data, targets=uow.settings.targets, now=uow.now())


@HANDLERS.on(TicketReplied)
async def on_ticket_replied(uow: UnitOfWork[SlaSettings], event: TicketReplied) -> None:
    """An agent's reply stops the first-response clock."""
    with _dead_letter_domain_errors():
        await service.record_reply(uow, data=event.data)


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: UnitOfWork[SlaSettings], event: TicketResolved) -> None:
    """Resolution stops the resolution clock (and first response, if still running)."""
    with _dead_letter_domain_errors():
        await service.record_resolution(uow, data=event.data)
