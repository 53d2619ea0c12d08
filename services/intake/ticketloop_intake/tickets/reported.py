"""What routing and sla report back about tickets: the owner routing chose, the queue a ticket
waits in, and sla's clocks. Each run of events is applied in one statement (intake applies these
on the event loop that also takes new tickets)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence

from ticketloop_intake.customers.service import clear
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import (
    Action,
    SlaClocks,
    newest_per_ticket,
    transitions,
)
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.errors import NotFound
from ticketloop_shared.events import (
    AssignmentReason,
    SlaClocksChangedData,
    TicketAssignedData,
    TicketQueuedData,
    TicketStatusChangedData,
)
from ticketloop_shared.ids import new_id

log = logging.getLogger(__name__)


def _reason(reason: AssignmentReason | None) -> str | None:
    """Routing's reason as the timeline shows it (JSON text): the rule that decided, who acted
    and their note, the strategy and the priority score; not the candidates (other agents' load
    is routing's to show)."""
    if reason is None:
        return None
    shown = {
        "rule": reason.rule,
        "strategy": reason.strategy,
        "score": reason.score,
        # Optional fields routing adds for take, assign and transfer; absent from older events.
        "actor": getattr(reason, "actor", None),
        "note": getattr(reason, "note", None),
    }
    return json.dumps(shown)


async def record_assignments(
    uow: IntakeUnit, assignments: Sequence[TicketAssignedData], *, kind: str = "assigned"
) -> None:
    """Show routing's choice of owner on each ticket (routing owns the decision), with the
    priority score and reason routing gave.

    One statement per run applies the ASSIGN transition of `domain.py` and adds the timeline
    entries; an older assignment arriving late does not replace a newer one. A ticket assigned
    twice in the run is applied in order, one round per repeat. Each change of status is
    announced like any other.
    """
    statuses = {k.value: v.value for k, v in transitions(Action.ASSIGN).items()}
    rounds: list[list[TicketAssignedData]] = []
    seen: dict[uuid.UUID, int] = {}
    for data in assignments:
        n = seen.get(data.ticket_id, 0)
        seen[data.ticket_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(data)
    applied: set[uuid.UUID] = set()
    for batch in rounds:
        shown = [
            repository.Shown(
                ticket_id=d.ticket_id,
                agent_id=d.agent_id,
                agent_name=d.agent_name,
                department_id=d.department_id,
                department_name=d.department_name,
                assigned_at=d.assigned_at,
                entry_id=new_id(),
                entry_body=clear(f"{d.agent_name} ({d.department_name})"),
                score=d.reason.score if d.reason is not None else None,
                reason=_reason(d.reason),
            )
            for d in batch
        ]
        when = {d.ticket_id: d.assigned_at for d in batch}
        for row in await repository.apply_assignments(uow.session, shown, statuses=statuses, kind=kind):
            applied.add(row.ticket_id)
            if row.old_status != row.new_status:
                uow.emit(
                    TicketStatusChangedData(
                        ticket_id=row.ticket_id,
                        number=row.number,
                        channel=row.channel,
                        category=row.category,
                        urgency=row.urgency,
                        customer_id=row.customer_id,
                        created_at=row.created_at,
                        from_status=row.old_status,
                        to_status=row.new_status,
                        action=Action.ASSIGN.value,
                        actor="routing",
                        changed_at=when[row.ticket_id],
                    )
                )
    missing = [t for t in seen if t not in applied]
    if missing:
        unknown = set(missing) - await repository.existing(uow.session, missing)
        if unknown:
            raise NotFound(f"no ticket with id {sorted(unknown)[0]}", code="ticket_not_found")


async def record_queued(uow: IntakeUnit, data: TicketQueuedData) -> None:
    """Show the department whose queue the ticket waits in, so its supervisor and agents can see
    it before anyone is assigned."""
    known = await repository.show_queued(
        uow.session,
        ticket_id=data.ticket_id,
        department_id=data.department_id,
        department_name=data.department_name,
        at=data.queued_at,
        body=clear(f"waiting for an agent of {data.department_name}"),
        score=data.score,
        reason=_reason(data.reason),
    )
    if not known:
        raise NotFound(f"no ticket with id {data.ticket_id}", code="ticket_not_found")


async def record_clocks(uow: IntakeUnit, published: Sequence[SlaClocksChangedData]) -> None:
    """Keep each ticket's clocks as sla last published them (sla owns every deadline), and with
    them the due instant work lists order by (`SlaClocks.next_due`), in one statement per run:
    the highest version wins, so an older or repeated publication changes nothing. A ticket
    intake does not have is skipped (logged at debug), not parked: intake writes a ticket before
    sla can hear of it, so this intake never held that one (a restored database, another
    deployment on the topics) and no retry would ever apply it."""
    newest = newest_per_ticket(published)
    shown = []
    for data in newest:
        due = SlaClocks(policy_id=data.policy_id, version=data.version, clocks=tuple(data.clocks)).next_due()
        shown.append(
            repository.ClocksShown(
                ticket_id=data.ticket_id,
                version=data.version,
                policy_id=data.policy_id,
                clocks=json.dumps([clock.model_dump(mode="json") for clock in data.clocks]),
                next_due_at=due[0] if due else None,
                next_due_clock=due[1].value if due else None,
            )
        )
    unknown = await repository.show_clocks(uow.session, shown)
    if unknown:
        log.debug("sla clocks of tickets intake does not have", extra={"ticket_ids": sorted(str(t) for t in unknown)})
