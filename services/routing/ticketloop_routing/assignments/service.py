"""The routing rule: a ticket goes to the department owning its category, then to the least
loaded active agent there. Deeper routing (skills, capacity, priority) replaces `choose_agent`."""

from __future__ import annotations

from ticketloop_routing.assignments import repository
from ticketloop_routing.organisation import repository as organisation
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import TicketAssignedData, TicketCreatedData, TicketResolvedData
from ticketloop_shared.unit_of_work import UnitOfWork

RoutingUnit = UnitOfWork[RoutingSettings]


class NoAgentAvailable(Exception):
    """No active agent in the owning department; retried, since an admin may add one."""


async def assign(uow: RoutingUnit, *, data: TicketCreatedData) -> bool:
    """Assign a new ticket and announce it; nothing if routing already knows the ticket (a
    redelivery, or a ticket resolved before routing saw it). Three statements, no ORM flush:
    routing applies hundreds of these a second."""
    session = uow.session
    department = await organisation.department_for(session, data.category)
    if department is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    agent = await repository.least_loaded_agent(session, department.id)
    if agent is None:
        raise NoAgentAvailable(f"department {department.id!r} has no active agent")
    now = uow.now()
    created = await repository.insert_if_new(
        session,
        ticket_id=data.ticket_id,
        ticket_number=data.number,
        category=data.category,
        department_id=department.id,
        agent_id=agent.id,
        assigned_at=now,
    )
    if not created:
        return False
    await repository.add_load(session, agent.id, 1)
    uow.emit(
        TicketAssignedData(
            ticket_id=data.ticket_id,
            department_id=department.id,
            department_name=department.name,
            agent_id=agent.id,
            agent_name=agent.name,
            assigned_at=now,
        )
    )
    return True


async def release(uow: RoutingUnit, *, data: TicketResolvedData) -> None:
    """A resolved ticket no longer counts towards its agent's load."""
    await repository.close(uow.session, data.ticket_id, at=data.resolved_at)
