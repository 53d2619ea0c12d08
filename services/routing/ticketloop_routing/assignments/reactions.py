"""Routing's reactions to what happens to a ticket it holds — reopened, re-prioritised,
recategorised, an SLA breached or escalated — and to agents away too long: each moves or
re-scores the ticket through `placement.place`, the reason stored with the decision. Private to
the feature: other features reach assignments through `service.py`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.domain import State
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.placement import (
    NO_ORGANISATION,
    base_score,
    candidates,
    member_ids,
    organisation_of,
    place,
)
from ticketloop_routing.assignments.queue import refill_for
from ticketloop_routing.customers import service as customers
from ticketloop_routing.organisation.domain import DepartmentConfig, OrgSnapshot
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import (
    EscalationTarget,
    SlaBreached,
    SlaBreachedData,
    SlaEscalated,
    SlaEscalatedData,
    TicketPriorityChanged,
    TicketReassignedData,
    TicketRecategorised,
    TicketReopened,
    parse_event,
)
from ticketloop_shared.vocabulary import Segment

log = logging.getLogger(__name__)


async def reopen(uow: RoutingUnit, *, event: TicketReopened) -> None:
    """A reopened ticket goes back to its previous owner if available and below capacity, else by
    the department's rule or to its queue (resolving already freed the owner's room).

    Order: a reopen of a ticket routing has not seen created is parked and applied once it is;
    one that overtook the resolve before it keeps the ticket open (that resolve is then stale);
    one older than a close already applied is stale itself: the ticket stays closed."""
    data = event.data
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None:
        await _park(uow, event, at=data.reopened_at)
        return
    if row.lifecycle_at is not None and data.reopened_at < row.lifecycle_at:
        return  # closed again after this reopen
    await repository.change(session, row.ticket_id, lifecycle_at=data.reopened_at)
    if row.state != State.CLOSED:
        return  # already open again (a redelivery, or a reopen overtaking a resolve)
    if row.ticket_number is None:  # resolved before routing saw it: learn what the event says
        await repository.change(
            session,
            row.ticket_id,
            ticket_number=data.number,
            category=data.category,
            channel=data.channel,
            urgency=data.urgency,
            customer_id=data.customer_id,
            segment=row.segment or Segment.POTENTIAL.value,
        )
        row = await repository.get(session, data.ticket_id, for_update=True)
        assert row is not None
    org = await organisation_of(uow)
    department = org.department_for(row.category or data.category)
    if department is None:
        raise PermanentEventError(NO_ORGANISATION)
    previous = row.agent_id
    # The previous owner first while they belong to the department (a ticket recategorised while
    # closed reopens in its new department, as if the reopen had come first).
    mine = previous is not None and previous in member_ids(org, department)
    preferred: list[tuple[str, str]] = [(previous, domain.RULE_PREVIOUS_OWNER)] if previous and mine else []
    if row.segment == Segment.HIGH_VALUE and row.customer_id:
        manager = (await customers.account_managers_for(session, [row.customer_id])).get(row.customer_id)
        if manager:
            preferred.append((manager, domain.RULE_ACCOUNT_MANAGER))
    await place(uow, row, org, department, preferred=preferred, previous_agent_id=previous, announce="reassigned")


async def reprioritise(uow: RoutingUnit, *, event: TicketPriorityChanged) -> None:
    """Keep the ticket's new urgency; a waiting ticket is re-scored (its place in time kept). A
    change of a ticket routing has not seen created is parked and applied once it is; one older
    than the last applied is stale."""
    data = event.data
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None:
        await _park(uow, event, at=data.changed_at)
        return
    if _stale(row.revised_at, data.changed_at):
        return
    await repository.change(session, row.ticket_id, urgency=data.urgency, revised_at=data.changed_at)
    if row.state == State.QUEUED and row.queued_at is not None:
        score = base_score(row, urgency=data.urgency)
        await repository.change(session, row.ticket_id, score=score, queue_rank=domain.queue_rank(score, row.queued_at))


def _stale(applied: datetime | None, changed_at: datetime) -> bool:
    """An older change arriving after a newer one was applied."""
    return applied is not None and changed_at < applied


async def recategorise(uow: RoutingUnit, *, event: TicketRecategorised) -> None:
    """Keep the ticket's new category; if another department owns it now, move the ticket there:
    to one of its agents (announced as a reassignment when it had an owner) or its queue. Parked
    like a priority change when routing has not seen the ticket created; stale when older."""
    data = event.data
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None:
        await _park(uow, event, at=data.changed_at)
        return
    if _stale(row.recategorised_at, data.changed_at):
        return
    await repository.change(session, row.ticket_id, category=data.category, recategorised_at=data.changed_at)
    if row.state == State.CLOSED:
        return
    org = await organisation_of(uow)
    department = org.department_for(data.category)
    if department is None or department.id == row.department_id:
        return
    because = (
        f"recategorised: {data.previous_category} → {data.category} moved the ticket from "
        f"{row.department_id} to {department.id}"
    )
    previous = row.agent_id if row.state == State.ASSIGNED else None
    if previous is not None:
        await repository.add_load(session, previous, -1)
    await place(uow, row, org, department, because=because, previous_agent_id=previous, announce="reassigned")
    if previous is not None:
        await refill_for(uow, previous, org=org)


# What a parked event does once its ticket is known.
Parked = TicketReopened | TicketPriorityChanged | TicketRecategorised


async def _park(uow: RoutingUnit, event: Parked, *, at: datetime) -> None:
    """Keep `event` until routing routes its ticket (`replay_parked`)."""
    log.info("event about a ticket routing has not seen created; parked", extra={"ticket_id": event.subject})
    await repository.park(
        uow.session, ticket_id=event.data.ticket_id, event_id=event.id, at=at, event=event.model_dump(mode="json")
    )


async def replay_parked(uow: RoutingUnit, ticket_id: uuid.UUID) -> None:
    """Apply the events parked for a ticket routing now knows, in the order they happened, each
    as if it had just arrived (its announcements caused by it)."""
    for raw in await repository.unpark(uow.session, ticket_id):
        event = parse_event(raw)
        with uow.caused_by(event):
            if isinstance(event, TicketReopened):
                await reopen(uow, event=event)
            elif isinstance(event, TicketPriorityChanged):
                await reprioritise(uow, event=event)
            elif isinstance(event, TicketRecategorised):
                await recategorise(uow, event=event)


async def replay_parked_of_known(uow: RoutingUnit, *, limit: int = 100) -> int:
    """The sweep's safety net: replay what is parked for tickets routed meanwhile by a transaction
    that could not see it (another partition's consumer, during a rebalance). Each ticket in its
    own savepoint; how many tickets were replayed."""
    done = 0
    for ticket_id in await repository.parked_of_known(uow.session, limit=limit):
        async with uow.isolated("replay of parked events", ticket_id=ticket_id) as item:
            await replay_parked(uow, ticket_id)
        done += 0 if item.failed else 1
    return done


async def on_breach(uow: RoutingUnit, *, data: SlaBreachedData) -> None:
    """A missed SLA deadline moves a waiting ticket up its queue."""
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or row.state != State.QUEUED:
        return
    boost = (row.boost or 0.0) + domain.SLA_BREACH_POINTS
    score = base_score(row, boost=boost)
    await repository.change(
        session,
        row.ticket_id,
        boost=boost,
        score=score,
        queue_rank=domain.queue_rank(score, row.queued_at or uow.now()),
    )


async def on_sla_events(uow: RoutingUnit, events: Sequence[SlaBreached | SlaEscalated]) -> None:
    """A run of SLA breaches and escalation steps, in their order (sla announces a breach and its
    steps together, so they come interleaved): what a breach moves is a waiting ticket, so one
    statement finds the run's waiting tickets and a breach of any other ticket costs nothing; the
    organisation is read once for the run's supervisor steps. Each event that does act on a
    ticket is applied as `on_breach` / `on_escalation` apply it, in order (a breach re-reads its
    ticket: a supervisor step before it may have given that ticket out)."""
    waiting = await repository.queued_among(
        uow.session, sorted({e.data.ticket_id for e in events if isinstance(e, SlaBreached)})
    )
    org = OrganisationOnce()
    for event in events:
        with uow.caused_by(event):
            if isinstance(event, SlaBreached):
                if event.data.ticket_id in waiting:
                    await on_breach(uow, data=event.data)
            else:
                await on_escalation(uow, data=event.data, org=org)


class OrganisationOnce:
    """The organisation read at most once for a run of events, when one first needs it (an event
    that needs none never fails for want of one)."""

    def __init__(self) -> None:
        self._snapshot: OrgSnapshot | None = None

    async def get(self, uow: RoutingUnit) -> OrgSnapshot:
        """The organisation, read on the first call."""
        if self._snapshot is None:
            self._snapshot = await organisation_of(uow)
        return self._snapshot


async def on_escalation(uow: RoutingUnit, *, data: SlaEscalatedData, org: OrganisationOnce | None = None) -> None:
    """A supervisor step of the SLA policy's escalation chain: an owned ticket goes to its
    department's supervisor (`ticket.reassigned`, the rule in its reason), or is logged when the
    department has none. Assignee and group steps are for their subscribers to act on."""
    if data.notify is not EscalationTarget.SUPERVISOR:
        return
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or row.state != State.ASSIGNED:
        return
    snapshot = await (org or OrganisationOnce()).get(uow)
    department = snapshot.departments.get(row.department_id or "") or snapshot.department_for(row.category or "")
    if department is None:
        return
    supervisor = department.supervisor
    if supervisor is None:
        log.info(
            "SLA breached on an assigned ticket; its department has no supervisor to escalate to",
            extra={"ticket_id": str(row.ticket_id), "department": department.id, "clock": data.clock.value},
        )
        return
    if row.agent_id != supervisor:
        await _to_supervisor(uow, snapshot, row, department, supervisor=supervisor, clock=data.clock.value)


async def _to_supervisor(
    uow: RoutingUnit, org: OrgSnapshot, row: Assignment, department: DepartmentConfig, *, supervisor: str, clock: str
) -> None:
    """Move the ticket from its owner to the department's supervisor, whatever their load (an
    escalation is not refused for capacity), and announce the reassignment with its reason."""
    session = uow.session
    previous = row.agent_id
    now = uow.now()
    live = await repository.agent_states(session, [a for a in (previous,) if a])
    prior = candidates(org, [previous], live, uow.settings.default_capacity) if previous else []
    reason = domain.escalation_reason(
        supervisor=supervisor,
        clock=clock,
        strategy=department.strategy,
        score=base_score(row),
        previous=prior[0] if prior else None,
    )
    await repository.escalate(
        session,
        row.ticket_id,
        previous=previous,
        supervisor=supervisor,
        at=now,
        reason_json=reason.model_dump_json(),
    )
    uow.emit(
        TicketReassignedData(
            ticket_id=row.ticket_id,
            department_id=department.id,
            department_name=department.name,
            agent_id=supervisor,
            agent_name=org.name_of(supervisor),
            assigned_at=now,
            reason=reason,
            previous_agent_id=previous,
        )
    )
    if previous is not None:
        await refill_for(uow, previous, org=org)


async def reassign_from_absent(uow: RoutingUnit, *, limit: int = 200) -> tuple[int, bool]:
    """Move the untouched tickets of agents away (or offline) for longer than
    `away_reassign_minutes` to someone available in the ticket's department, or to its queue.
    Each ticket is moved in its own savepoint: one that fails is logged and skipped. Returns how
    many moved and whether the batch was full (more may be due)."""
    session, now = uow.session, uow.now()
    grace = timedelta(minutes=uow.settings.away_reassign_minutes)
    rows = await repository.untouched_of_absent(session, cutoff=now - grace, limit=limit)
    if not rows:
        return 0, False
    org = await organisation_of(uow)
    moved = 0
    for row in rows:
        previous = row.agent_id
        department = org.department_for(row.category or "") or org.departments.get(row.department_id or "")
        if department is None or previous is None:
            continue
        async with uow.isolated("away reassignment of a ticket", ticket_id=row.ticket_id) as item:
            live = await repository.agent_states(session, [previous])
            presence = live[previous].presence if previous in live else "away"
            because = (
                f"away_reassign: {previous} has been {presence} for over "
                f"{uow.settings.away_reassign_minutes:g} minutes and had not touched the ticket"
            )
            await repository.add_load(session, previous, -1)
            await place(uow, row, org, department, because=because, previous_agent_id=previous, announce="reassigned")
        if not item.failed:
            moved += 1
    return moved, len(rows) >= limit


async def next_away_reassignment(session: AsyncSession, *, grace: timedelta) -> datetime | None:
    """When the next untouched ticket of an away (or offline) agent falls due for reassignment:
    the agent's away-since plus the grace."""
    since = await repository.earliest_absence_with_untouched(session)
    return None if since is None else since + grace
