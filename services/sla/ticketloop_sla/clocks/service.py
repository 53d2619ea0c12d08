"""The SLA engine's work: apply ticket events to their clocks, let the timer announce what is
due, re-target clocks when rules change. Every announcement goes to the outbox in the
transaction that changes the clock, so the two can never disagree; every change of a
ticket's clocks publishes them whole (`sla.clocks_changed`), the deadlines intake shows."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import update

from ticketloop_shared.events import (
    ClockOutcome,
    CustomerSegmentChanged,
    Envelope,
    SlaBreachedData,
    SlaClocksChangedData,
    SlaEscalatedData,
    SlaMetData,
    SlaWarningData,
    TicketAcknowledged,
    TicketAssigned,
    TicketClosed,
    TicketConnected,
    TicketCreated,
    TicketFollowedUp,
    TicketMessageReceived,
    TicketPlanCommitted,
    TicketPriorityChanged,
    TicketQueued,
    TicketReassigned,
    TicketRecategorised,
    TicketRef,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatusChanged,
    TicketUpdated,
    parse_event,
)
from ticketloop_shared.events.catalog import Payload
from ticketloop_shared.state import Slot
from ticketloop_sla.clocks import replay, repository, rules
from ticketloop_sla.clocks.models import SlaClock
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_sla.policies import service as policies
from ticketloop_sla.unit import SlaUnit
from ticketloop_slarules import cycles as domain
from ticketloop_slarules import published
from ticketloop_slarules.cycles import Announce, Cycle, Note
from ticketloop_slarules.policies import Rules

log = logging.getLogger(__name__)


ANNOUNCED = Counter("ticketloop_sla_announced_total", "SLA announcements written", ["what", "clock"])
SKIPPED_PUBLICATIONS = Counter(
    "ticketloop_sla_clocks_unpublished_total",
    "New tickets whose clocks started as ticket.created announced them: no sla.clocks_changed for the start",
)
LATENESS = Histogram(
    "ticketloop_sla_breach_lateness_seconds",
    "From a breach's due instant to the commit of its announcement",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300),
)
# A ticket whose clocks cannot be advanced (a broken invariant) is looked at again this much
# later rather than in a hot loop.
POISON_BACKOFF = timedelta(minutes=1)

Apply = Callable[[Ticket, Rules, Any], None]


def _status(t: Ticket, r: Rules, e: TicketStatusChanged) -> None:
    rules.status_changed(t, r, status=e.data.to_status, at=e.data.changed_at)


def _assigned(t: Ticket, r: Rules, e: TicketAssigned | TicketReassigned) -> None:
    rules.assigned(t, agent_id=e.data.agent_id, department_id=e.data.department_id, at=e.data.assigned_at)


def _acknowledged(t: Ticket, r: Rules, e: TicketAcknowledged) -> None:
    rules.acknowledged(t, r, at=e.data.acknowledged_at)


def _connected(t: Ticket, r: Rules, e: TicketConnected) -> None:
    rules.connected(t, r, at=e.data.connected_at)


def _queued(t: Ticket, r: Rules, e: TicketQueued) -> None:
    rules.queued(t, department_id=e.data.department_id, at=e.data.queued_at)


def _replied(t: Ticket, r: Rules, e: TicketReplied) -> None:
    rules.answered(t, r, at=e.data.replied_at)


def _updated(t: Ticket, r: Rules, e: TicketUpdated) -> None:
    rules.answered(t, r, at=e.data.updated_at)


def _plan(t: Ticket, r: Rules, e: TicketPlanCommitted) -> None:
    rules.plan_committed(t, r, at=e.data.committed_at, resolve_by=e.data.committed_resolution_at)


def _message(t: Ticket, r: Rules, e: TicketMessageReceived) -> None:
    rules.message_received(t, r, at=e.data.received_at)


def _priority(t: Ticket, r: Rules, e: TicketPriorityChanged) -> None:
    t.urgency = e.data.urgency
    rules.refresh(t, r, at=e.data.changed_at)


def _category(t: Ticket, r: Rules, e: TicketRecategorised) -> None:
    t.category = e.data.category
    rules.refresh(t, r, at=e.data.changed_at)


def _resolved(t: Ticket, r: Rules, e: TicketResolved) -> None:
    d = e.data
    rules.resolved(t, r, at=d.resolved_at, first_response_at=d.first_response_at, self_service=d.self_service)


def _followed_up(t: Ticket, r: Rules, e: TicketFollowedUp) -> None:
    rules.followed_up(t, r, at=e.data.followed_up_at)


def _reopened(t: Ticket, r: Rules, e: TicketReopened) -> None:
    rules.reopened(t, r, at=e.data.reopened_at)


def _closed(t: Ticket, r: Rules, e: TicketClosed) -> None:
    rules.closed(t, r, at=e.data.closed_at)


def _created(t: Ticket, r: Rules, e: TicketCreated) -> None:
    t.need = e.data.need  # learnt late, had another event of the ticket come first
    if t.origin != e.data.origin.value:  # learnt late: another event of the ticket came first
        t.origin = e.data.origin.value
        if not rules.runs_customer_clocks(t.origin):
            rules.closed(t, r, at=e.data.created_at)  # a care task owes none of what started meanwhile
    if e.data.live_session and not t.live:
        t.live = True
        rules.begin(t, r)  # the access clock, had another event of the ticket come first


APPLY: dict[type[Envelope], Apply] = {
    TicketCreated: _created,
    TicketAssigned: _assigned,
    TicketReassigned: _assigned,
    TicketQueued: _queued,
    TicketStatusChanged: _status,
    TicketReplied: _replied,
    TicketUpdated: _updated,
    TicketPlanCommitted: _plan,
    TicketMessageReceived: _message,
    TicketPriorityChanged: _priority,
    TicketRecategorised: _category,
    TicketResolved: _resolved,
    TicketFollowedUp: _followed_up,
    TicketReopened: _reopened,
    TicketClosed: _closed,
    TicketAcknowledged: _acknowledged,
    TicketConnected: _connected,
}


async def current_rules(uow: SlaUnit) -> Rules:
    """The policies and calendars in force for this database."""
    return await policies.rules(uow.session, uow.state)


# Set after a commit that made a clock need the timer sooner than the timer's longest sleep
# (`timer_max_idle_seconds`): this process's timer looks at once instead of at its next wake.
TIMER_WAKE = Slot("sla timer: a clock needs looking at soon", asyncio.Event)


def _wake_timer_if_soon(uow: SlaUnit, tickets: Iterable[Ticket]) -> None:
    """A clock written to need the timer within its longest sleep wakes it after the commit.

    The timer sleeps until the earliest instant any clock needs, at most `timer_max_idle_seconds`;
    a clock that this transaction makes due before then (an event that arrived late, a policy
    change, a short target) would otherwise wait for that wake. A new ticket's clocks are due
    seconds to hours away, so under load this wakes nothing."""
    horizon = uow.now() + timedelta(seconds=uow.settings.timer_max_idle_seconds)
    for t in tickets:
        if any(c.next_at is not None and c.next_at <= horizon for c in t.clocks.values()):
            uow.after_commit(uow.state[TIMER_WAKE].set)
            return


async def apply(uow: SlaUnit, events: Sequence[Envelope]) -> None:
    """Apply a run of events to the clocks of the tickets they are about, in a handful of
    statements whatever the run's length.

    Order: a placement (routing's assigned, reassigned, queued) of a ticket sla has not seen
    carries no facts to start its clocks from: it is parked and applied with the first event of
    the ticket that does (one more statement for a run that brings new tickets); an older
    placement never replaces a newer one. Every event applied is kept in the ticket's history
    (one statement a run); a clock event older than the newest one applied is not applied on
    its own: the ticket's clocks are rebuilt from that history in time order, announcing only
    what was not announced yet (`clocks.replay`; three more statements for a run that has
    any). Tickets sla knew before it kept histories stay in arrival order."""
    session = uow.session
    r = await current_rules(uow)
    now = uow.now()
    segment_events = [e for e in events if isinstance(e, CustomerSegmentChanged)]
    ticket_events = [e for e in events if not isinstance(e, CustomerSegmentChanged)]
    ids: list[uuid.UUID] = [e.data.ticket_id for e in ticket_events]
    resegmented: dict[str, str] = {}
    if segment_events:
        latest = {e.data.customer_id: e for e in sorted(segment_events, key=lambda e: e.data.changed_at)}
        changed = await repository.set_segments(
            session,
            [{"customer_id": c, "segment": e.data.segment, "changed_at": e.data.changed_at} for c, e in latest.items()],
        )
        resegmented = {c: latest[c].data.segment for c in changed}
        ids.extend(await repository.open_tickets_of(session, list(resegmented)))
    tickets = await repository.lock(session, ids)
    fresh = [e.data for e in ticket_events if isinstance(e.data, TicketRef) and e.data.ticket_id not in tickets]
    known_segments = await repository.segments(session, {d.customer_id for d in fresh})
    # Placements waiting for these tickets: parked by earlier runs, or earlier in this one.
    waiting: dict[uuid.UUID, list[Envelope]] = {}
    for raw in await repository.unpark(session, sorted({d.ticket_id for d in fresh})):
        parked: Envelope = parse_event(raw)
        waiting.setdefault(uuid.UUID(parked.subject), []).append(parked)
    last_cause: dict[uuid.UUID, Envelope] = {}
    kept: list[dict[str, Any]] = []  # this run's additions to the tickets' histories
    late: dict[uuid.UUID, Envelope] = {}  # tickets to rebuild, and the late event that says so
    for event in ticket_events:
        data = event.data
        t = tickets.get(data.ticket_id)
        if t is None:
            if not isinstance(data, TicketRef):
                waiting.setdefault(data.ticket_id, []).append(event)
                continue
            live = isinstance(event, TicketCreated) and event.data.live_session
            t = tickets[data.ticket_id] = rules.from_ref(data, live=live)
            if isinstance(event, TicketCreated) and event.data.clocks is not None:
                t.announced = (event.data.clocks_policy_id, event.data.clocks)
            t.segment = known_segments.get(t.customer_id)
            t.applied_until = event.occurred_at
            for early in waiting.pop(t.ticket_id, []):
                APPLY[type(early)](t, r, early)
                kept.append(_kept(t, early, now))
        last_cause[t.ticket_id] = event
        if t.applied_until is None:  # known before histories were kept: arrival order
            pass
        elif t.ticket_id in late or (replay.is_late(t, event) and not isinstance(event, replay.PLACEMENTS)):
            late.setdefault(t.ticket_id, event)
            kept.append(_kept(t, event, now))
            continue  # the rebuild below applies it, in its place
        else:
            kept.append(_kept(t, event, now))
            if not isinstance(event, replay.PLACEMENTS):
                t.applied_until = max(t.applied_until, event.occurred_at)
        with uow.caused_by(event):
            rules.begin(t, r)
            APPLY[type(event)](t, r, event)
            rules.tick(t, r, now=uow.now())
            _announce(uow, t)
    if waiting:
        log.info("placements of tickets sla has not seen; parked", extra={"tickets": len(waiting)})
        await repository.park(
            session,
            [
                {"ticket_id": ticket_id, "event_id": e.id, "event": e.model_dump(mode="json")}
                for ticket_id, placements in waiting.items()
                for e in placements
            ],
        )
    for customer, segment in resegmented.items():
        for t in tickets.values():
            if t.customer_id == customer and t.segment != segment:
                t.segment = segment
                with uow.caused_by(next(e for e in segment_events if e.data.customer_id == customer)):
                    rules.refresh(t, r, at=uow.now())
                    rules.tick(t, r, now=uow.now())
                    _announce(uow, t)
    await repository.keep_applied(session, kept)
    if late:
        await _rebuild(uow, r, {i: tickets[i] for i in late}, causes=late, now=now)
    await repository.save(session, tickets.values(), now=uow.now())
    await _publish(uow, tickets.values(), causes=last_cause)
    _wake_timer_if_soon(uow, tickets.values())


def _kept(t: Ticket, event: Envelope, now: datetime) -> dict[str, Any]:
    return {
        "ticket_id": t.ticket_id,
        "event_id": event.id,
        "occurred_at": event.occurred_at,
        "arrived_at": now,
        "event": event.model_dump(mode="json"),
    }


# What a rebuild keeps of the ticket as loaded: its identity, its publication count, and what
# `save` and `_publish` track.
_NOT_REBUILT = frozenset({"ticket_id", "segment", "version", "new", "changed", "dirty"})


def _apply_one(t: Ticket, r: Rules, event: Envelope) -> None:
    APPLY[type(event)](t, r, event)


async def _rebuild(
    uow: SlaUnit, r: Rules, tickets: dict[uuid.UUID, Ticket], *, causes: dict[uuid.UUID, Envelope], now: datetime
) -> None:
    """Rebuild these tickets' clocks from their histories in time order (`replay`), announce
    what the rebuild found that was not announced yet, and have `save` write every cycle anew."""
    ids = sorted(tickets)
    histories = await repository.applied(uow.session, ids)
    stored = await repository.all_cycles(uow.session, ids)
    await repository.forget_cycles(uow.session, ids)
    log.info("events older than ones applied; clocks rebuilt in time order", extra={"tickets": len(ids)})
    for ticket_id in ids:
        t = tickets[ticket_id]
        # What was announced: the stored cycles, overlaid by what this transaction changed.
        before = {(c.kind, c.cycle): c for c in [*stored.get(ticket_id, []), *t.ended, *t.clocks.values()]}
        history = [replay.Entry(parse_event(a.event), a.arrived_at) for a in histories.get(ticket_id, [])]
        rebuilt = replay.rebuild(history, r, now=now, apply=_apply_one, before=before.values(), segment=t.segment)
        # In place: this transaction's publication may already hold `t`.
        for f in fields(Ticket):
            if f.name not in _NOT_REBUILT:
                setattr(t, f.name, getattr(rebuilt, f.name))
        current = {(c.kind, c.cycle) for c in t.clocks.values()}
        t.ended = list({(c.kind, c.cycle): c for c in t.ended if (c.kind, c.cycle) not in current}.values())
        t.dirty = set(t.clocks)
        t.changed = True
        with uow.caused_by(causes[ticket_id]):
            _announce(uow, t)


async def fire_due(uow: SlaUnit, *, limit: int) -> tuple[int, bool]:
    """The timer's batch: announce every warning, breach and escalation due by now; returns how
    many were announced and whether the batch was full (more may be due)."""
    session, now = uow.session, uow.now()
    ids = await repository.due_tickets(session, now=now, limit=limit)
    if not ids:
        return 0, False
    tickets = await repository.lock(session, ids, skip_locked=True)
    r = await current_rules(uow)
    announced = 0
    good: list[Ticket] = []
    for t in tickets.values():
        try:
            rules.tick(t, r, now=now)
        except Exception:
            log.exception(
                "clocks of one ticket could not be advanced; retried later", extra={"ticket_id": str(t.ticket_id)}
            )
            await session.execute(
                update(SlaClock)
                .where(SlaClock.ticket_id == t.ticket_id, SlaClock.next_at <= now)
                .values(next_at=now + POISON_BACKOFF)
            )
            continue
        announced += _announce(uow, t)
        good.append(t)
    await repository.save(session, good, now=now)
    await _publish(uow, good, causes={})
    # Full only when this replica got the tickets: another replica holding them all is doing
    # that batch, and asking again at once would only spin.
    return announced, len(ids) >= limit and bool(tickets)


async def recompute(uow: SlaUnit, *, limit: int) -> int:
    """Give the open tickets set under older rules their new policy and targets; returns how many."""
    r = await current_rules(uow)
    ids = await repository.stale(uow.session, version=r.version, limit=limit)
    tickets = await repository.lock(uow.session, ids, skip_locked=True)
    for t in tickets.values():
        rules.refresh(t, r, at=uow.now())
        rules.tick(t, r, now=uow.now())
        _announce(uow, t)
    await repository.save(uow.session, tickets.values(), now=uow.now())
    await _publish(uow, tickets.values(), causes={})
    _wake_timer_if_soon(uow, tickets.values())
    return len(tickets)


def _announce(uow: SlaUnit, t: Ticket) -> int:
    notes, t.notes = t.notes, []
    for note in notes:
        payload = _payload(t, note)
        uow.emit(payload, time=note.at)
        if isinstance(payload, SlaEscalatedData):
            _keep_escalation(uow, t, payload, at=note.at)
        ANNOUNCED.labels(note.what.value, note.cycle.kind.value).inc()
        if note.what is Announce.BREACHED:
            LATENESS.observe(max(0.0, (uow.now() - note.at).total_seconds()))
    return len(notes)


_PENDING = "sla.clocks_changed"
_ESCALATIONS = "sla.escalations"


def _keep_escalation(uow: SlaUnit, t: Ticket, data: SlaEscalatedData, *, at: datetime) -> None:
    """Keep the escalation step for the supervisors' list (written with the announcement, at commit)."""
    pending: list[repository.EscalationRow] | None = uow.deferred.get(_ESCALATIONS)
    if pending is None:
        pending = uow.deferred[_ESCALATIONS] = []
        rows = pending
        uow.before_commit(lambda: repository.add_escalations(uow.session, rows))
    pending.append(
        repository.EscalationRow(
            ticket_id=t.ticket_id,
            ticket_number=t.number,
            clock=data.clock.value,
            cycle=data.cycle,
            level=data.level,
            notify=data.notify.value,
            group=data.group,
            share=data.share,
            policy_id=t.policy_id,
            due_at=data.due_at,
            agent_id=data.agent_id,
            escalated_at=at,
        )
    )


async def _publish(uow: SlaUnit, tickets: Iterable[Ticket], *, causes: dict[uuid.UUID, Envelope]) -> None:
    """Publish the changed tickets' clocks once per transaction: a consumer batch that creates,
    assigns and moves a ticket tells intake its deadlines once, as they stand at the end."""
    pending: dict[uuid.UUID, tuple[Ticket, Envelope | None]] | None = uow.deferred.get(_PENDING)
    if pending is None:
        pending = uow.deferred[_PENDING] = {}
        uow.before_commit(lambda: _publish_pending(uow, pending))
    for t in tickets:
        if t.changed or t.ticket_id in pending:
            cause = causes.get(t.ticket_id) or (pending[t.ticket_id][1] if t.ticket_id in pending else None)
            pending[t.ticket_id] = (t, cause)
            t.changed = False


async def _publish_pending(uow: SlaUnit, pending: dict[uuid.UUID, tuple[Ticket, Envelope | None]]) -> None:
    if not pending:
        return
    versions = await repository.next_versions(uow.session, list(pending))
    for ticket_id, (t, cause) in pending.items():
        views = published.views(t.clocks)
        if t.announced is not None and t.announced == (t.policy_id, views):
            # A new ticket whose clocks started exactly as `ticket.created` announced them:
            # intake shows those already (version 0), and this version is skipped.
            SKIPPED_PUBLICATIONS.inc()
            continue
        with uow.caused_by(cause):
            uow.emit(
                SlaClocksChangedData(
                    ticket_id=ticket_id,
                    version=versions[ticket_id],
                    policy_id=t.policy_id,
                    policy_version=t.rules_version,
                    changed_at=uow.now(),
                    clocks=views,
                )
            )


def _payload(t: Ticket, note: Note) -> Payload:
    c = note.cycle
    base: dict[str, Any] = {
        "ticket_id": t.ticket_id,
        "clock": c.kind,
        "started_at": c.started_at,
        "due_at": c.due_at or note.at,
        "stopped_at": c.stopped_at,
        "breached_at": c.breached_at,
        "cycle": c.cycle,
        "policy_id": t.policy_id,
        "target_seconds": c.target_seconds,
        "paused_seconds": c.paused_seconds,
        "margin_seconds": c.margin_seconds,
        "department_id": t.department_id,
        "agent_id": t.agent_id,
    }
    if note.what is Announce.MET:
        return SlaMetData(**base)
    if note.what is Announce.BREACHED:
        return SlaBreachedData(**base)
    if note.what is Announce.WARNING:
        return SlaWarningData(**base, share=note.share or 0.0)
    step = note.step
    assert step is not None
    return SlaEscalatedData(**base, level=step.level, notify=step.notify, share=step.share, group=step.group)


def elapsed_remaining(cycle: Cycle, now: datetime, r: Rules) -> tuple[float, float | None]:
    """Business seconds used so far and left (None once the cycle ended or breached)."""
    used = domain.elapsed(cycle, now, r.calendar(cycle.calendar))
    running = cycle.status in (ClockOutcome.RUNNING, ClockOutcome.PAUSED)
    return used, (cycle.target_seconds - used) if running else None
