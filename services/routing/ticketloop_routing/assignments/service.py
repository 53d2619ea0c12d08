"""The routing rule: a ticket goes to the department owning its category, then to the least
loaded active agent there. Deeper routing (skills, capacity, priority) replaces `choose_agent`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import repository
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.organisation import repository as organisation
from ticketloop_shared.clock import Clock
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import TicketAssigned, TicketAssignedData, TicketCreated, TicketResolved
from ticketloop_shared.messaging.outbox import Outbox

SOURCE = "routing"


class NoAgentAvailable(Exception):
    """No active agent in the owning department; retried, since an admin may add one."""


async def assign(session: AsyncSession, *, event: TicketCreated, outbox: Outbox, clock: Clock) -> Assignment | None:
    """Assign a new ticket and announce it; nothing if routing already knows the ticket."""
    data = event.data
    if await repository.get(session, data.ticket_id) is not None:
        return None
    department = await organisation.department_for(session, data.category)
    if department is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    agent = await repository.least_loaded_agent(session, department.id)
    if agent is None:
        raise NoAgentAvailable(f"department {department.id!r} has no active agent")
    now = clock.now()
    assignment = Assignment(
        ticket_id=data.ticket_id,
        ticket_number=data.number,
        category=data.category,
        department_id=department.id,
        agent_id=agent.id,
        assigned_at=now,
    )
    session.add(assignment)
    await session.flush()
    await outbox.add(
        session,
        TicketAssigned(
            source=SOURCE,
            subject=str(data.ticket_id),
            time=now,
            **event.context().model_dump(),
            data=TicketAssignedData(
                ticket_id=data.ticket_id,
                department_id=department.id,
                department_name=department.name,
                agent_id=agent.id,
                agent_name=agent.name,
                assigned_at=now,
            ),
        ),
    )
    return assignment


async def release(session: AsyncSession, *, event: TicketResolved) -> None:
    """A resolved ticket no longer counts towards its agent's load."""
    await repository.close(session, event.data.ticket_id, at=event.data.resolved_at)
