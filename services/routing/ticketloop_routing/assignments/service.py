"""The routing rule: a ticket goes to the department owning its category, then to the least
loaded active agent there. Deeper routing (skills, capacity, priority) replaces `choose_agent`."""

from __future__ import annotations

from ticketloop_routing.assignments import repository
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import TicketAssignedData, TicketCreatedData, TicketResolvedData
from ticketloop_shared.unit_of_work import UnitOfWork

RoutingUnit = UnitOfWork[RoutingSettings]


class NoAgentAvailable(Exception):
    """No active agent in the owning department; retried, since an admin may add one."""


async def assign(uow: RoutingUnit, *, data: TicketCreatedData) -> bool:
    """Assign a new ticket and announce it; nothing if routing already knows the ticket (a
    redelivery, or a ticket resolved before routing saw it).

    The rule: the department owning the category (else the fallback department), then its
    active agent with the fewest open tickets, ties by id. One statement chooses, records and
    counts (repository.assign), so two replicas never both count a ticket and routing applies
    hundreds of these a second."""
    now = uow.now()
    choice = await repository.assign(
        uow.session, ticket_id=data.ticket_id, ticket_number=data.number, category=data.category, assigned_at=now
    )
    if choice is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    if choice.agent_id is None or choice.agent_name is None:
        raise NoAgentAvailable(f"department {choice.department_id!r} has no active agent")
    if not choice.created:
        return False
    uow.emit(
        TicketAssignedData(
            ticket_id=data.ticket_id,
            department_id=choice.department_id,
            department_name=choice.department_name,
            agent_id=choice.agent_id,
            agent_name=choice.agent_name,
            assigned_at=now,
        )
    )
    return True


async def release(uow: RoutingUnit, *, data: TicketResolvedData) -> None:
    """A resolved ticket no longer counts towards its agent's load."""
    await repository.close(uow.session, data.ticket_id, at=data.resolved_at)
