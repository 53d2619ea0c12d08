"""Who is told what: the rule that turns one event into the notifications it owes, and the few
facts about open tickets that rule needs (owner, department, number), learnt from the topics.

| event                                   | notification           | to                                  |
|-----------------------------------------|------------------------|-------------------------------------|
| ticket.assigned / reassigned            | `assigned`             | the new owner; the previous owner   |
|                                         | `queued`               | the staff of the queue it left      |
| ticket.queued                           | `queued`               | the staff of the department         |
|                                         | `assigned`             | the owner it left                   |
| ticket.message_received, repeat_contact | `customer_message`     | the owner                           |
| ticket.reopened (customer_request only) | `customer_message`     | the owner                           |
| sla.warning / sla.breached              | `sla_warning` / `sla_breached` | the owner                   |
| sla.escalated notify=assignee           | `escalation`           | the owner (none: the supervisors)   |
| sla.escalated notify=supervisor         | `escalation`           | supervisors of the department; admins |
| sla.escalated notify=group              | `group_escalation`     | supervisors of the department; admins |
| care.wait_exceeded                      | `wait_exceeded`        | every supervisor; admins            |

A reopen caused by a customer message or a repeat contact is already told by that event, so only
a reopen the customer asked for through the link (`customer_request`) is told on its own.
Admins are told what a supervisor escalation tells (they see every department), not the
department's day-to-day queue.

One person is told at most once per event: the notifications of an event are listed most
specific audience first, and a connection takes the first one that addresses it.
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from ticketloop_shared.auth import Role
from ticketloop_shared.events.catalog import (
    AnyEvent,
    CareWaitExceeded,
    ClockKind,
    EscalationTarget,
    SlaBreached,
    SlaEscalated,
    SlaWarning,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketMessageReceived,
    TicketQueued,
    TicketReassigned,
    TicketRef,
    TicketReopened,
    TicketRepeatContact,
)


class Kind(StrEnum):
    """What a notification is about; pages list the kinds a region refreshes on."""

    ASSIGNED = "assigned"
    CUSTOMER_MESSAGE = "customer_message"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    ESCALATION = "escalation"
    GROUP_ESCALATION = "group_escalation"
    QUEUED = "queued"
    WAIT_EXCEEDED = "wait_exceeded"


class Scope(StrEnum):
    """Who an audience is: one person, or everyone of a role (in a department)."""

    PERSON = "person"
    SUPERVISORS = "supervisors"
    STAFF = "staff"
    ADMINS = "admins"


# The department key that addresses every supervisor, whatever their department (counters belong
# to no department).
EVERY_DEPARTMENT = "*"


@dataclass(frozen=True, slots=True)
class Audience:
    """The people a notification is for: a person (a token's `sub`), the supervisors or the staff
    (agents and supervisors) of a department, or the admins."""

    scope: Scope
    key: str = ""

    def __str__(self) -> str:
        return f"{self.scope.value}:{self.key}"

    @classmethod
    def person(cls, sub: str) -> Audience:
        """One member of staff."""
        return cls(Scope.PERSON, sub)

    @classmethod
    def supervisors(cls, department: str) -> Audience:
        """The supervisors of `department` (`EVERY_DEPARTMENT`: all of them)."""
        return cls(Scope.SUPERVISORS, department)

    @classmethod
    def staff(cls, department: str) -> Audience:
        """Agents and supervisors of `department`."""
        return cls(Scope.STAFF, department)


ADMINS = Audience(Scope.ADMINS)


def audiences_of(sub: str, role: Role | str, department: str | None) -> tuple[Audience, ...]:
    """Every audience a signed-in person belongs to, most specific first."""
    found = [Audience.person(sub)]
    if role == Role.ADMIN:
        found.append(ADMINS)
    elif department and role in (Role.AGENT, Role.SUPERVISOR):
        if role == Role.SUPERVISOR:
            found += [Audience.supervisors(department), Audience.supervisors(EVERY_DEPARTMENT)]
        found.append(Audience.staff(department))
    return tuple(found)


def notification_id(event_id: UUID, audience: Audience) -> str:
    """`<event id>.<12 hex of the audience>`: unique per event and audience, the same on every
    replica and after a restart, ordered by the event's time (its id is a UUIDv7), and plain
    ASCII whatever the person's id holds (it travels in the `Last-Event-ID` header)."""
    digest = hashlib.blake2b(str(audience).encode(), digest_size=6).hexdigest()
    return f"{event_id}.{digest}"


def event_id_of(notification: str) -> UUID | None:
    """The event id a notification id starts with, or None for a string that is not one."""
    try:
        return UUID(notification.split(".", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell one audience, about one event."""

    id: str
    event_id: UUID
    audience: Audience
    kind: Kind
    title: str
    at: datetime
    ticket_id: UUID | None = None
    ticket_number: str | None = None
    department_id: str | None = None


@dataclass(slots=True)
class TicketFacts:
    """What the tailer knows of one open ticket: enough to address its notifications."""

    number: str | None = None
    department_id: str | None = None
    department_name: str | None = None
    owner: str | None = None
    queued: bool = False


class TicketBook:
    """The open tickets' facts, learnt from the ticket topic, bounded.

    A closed ticket is forgotten; beyond `max_tickets` the least recently seen go first (a ticket
    nobody touched for that long is told by its next assignment again). Memory: about 300 bytes
    per open ticket (the ids and department names are interned, so shared), so 100,000 open
    tickets cost about 30 MB.
    """

    def __init__(self, max_tickets: int) -> None:
        self.max_tickets = max_tickets
        self._tickets: OrderedDict[UUID, TicketFacts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def get(self, ticket_id: UUID) -> TicketFacts | None:
        """A copy of what is known of the ticket (None: nothing)."""
        facts = self._tickets.get(ticket_id)
        if facts is None:
            return None
        return TicketFacts(facts.number, facts.department_id, facts.department_name, facts.owner, facts.queued)

    def learn(self, event: AnyEvent) -> None:
        """Take in what `event` says about its ticket (after its notifications were decided, so
        they can still name the owner or queue it changes)."""
        if isinstance(event, TicketClosed):
            self._tickets.pop(event.data.ticket_id, None)
            return
        if isinstance(event, TicketAssigned | TicketReassigned):
            facts = self._touch(event.data.ticket_id)
            facts.owner = _intern(event.data.agent_id)
            facts.department_id = _intern(event.data.department_id)
            facts.department_name = _intern(event.data.department_name)
            facts.queued = False
        elif isinstance(event, TicketQueued):
            facts = self._touch(event.data.ticket_id)
            facts.owner = None
            facts.department_id = _intern(event.data.department_id)
            facts.department_name = _intern(event.data.department_name)
            facts.queued = True
        elif isinstance(event, TicketCreated | TicketReopened | TicketMessageReceived | TicketRepeatContact):
            self._touch(event.data.ticket_id).number = event.data.number
        elif isinstance(event.data, TicketRef):
            # Other ticket events (replies, status changes…) refresh a known ticket only: one
            # arriving after its ticket closed must not bring the ticket back.
            known = self._tickets.get(event.data.ticket_id)
            if known is not None:
                known.number = event.data.number

    def _touch(self, ticket_id: UUID) -> TicketFacts:
        facts = self._tickets.get(ticket_id)
        if facts is None:
            facts = self._tickets[ticket_id] = TicketFacts()
            while len(self._tickets) > self.max_tickets:
                self._tickets.popitem(last=False)
        else:
            self._tickets.move_to_end(ticket_id)
        return facts


def _intern(value: str) -> str:
    return sys.intern(value)


def notifications_for(event: AnyEvent, known: TicketFacts | None) -> list[Notification]:
    """The notifications `event` owes, most specific audience first; `known` is what was known
    of its ticket before it (None: nothing)."""
    facts = known or TicketFacts()
    drafts: list[tuple[Audience, Kind, str]] = []
    ticket_id: UUID | None = None
    department: str | None = facts.department_id
    number = facts.number
    if isinstance(event.data, TicketRef):
        number = event.data.number

    if isinstance(event, TicketAssigned | TicketReassigned):
        data = event.data
        ticket_id, department = data.ticket_id, data.department_id
        label = _label(number)
        taken = data.reason is not None and data.reason.rule == "taken"
        drafts.append(
            (Audience.person(data.agent_id), Kind.ASSIGNED, f"You took {label}" if taken else f"{label} is yours now")
        )
        previous = getattr(data, "previous_agent_id", None) or facts.owner
        if previous and previous != data.agent_id:
            drafts.append((Audience.person(previous), Kind.ASSIGNED, f"{label} went to {data.agent_name}"))
        if facts.queued and facts.department_id:
            drafts.append(
                (Audience.staff(facts.department_id), Kind.QUEUED, f"{label} left the queue: {data.agent_name} has it")
            )
    elif isinstance(event, TicketQueued):
        data_q = event.data
        ticket_id, department = data_q.ticket_id, data_q.department_id
        label, queue = _label(number), data_q.department_name
        if facts.owner:
            drafts.append((Audience.person(facts.owner), Kind.ASSIGNED, f"{label} went to the {queue} queue"))
        drafts.append((Audience.staff(data_q.department_id), Kind.QUEUED, f"{label} waits in the {queue} queue"))
        if facts.queued and facts.department_id and facts.department_id != data_q.department_id:
            drafts.append((Audience.staff(facts.department_id), Kind.QUEUED, f"{label} left the queue for {queue}"))
    elif isinstance(event, TicketMessageReceived | TicketRepeatContact | TicketReopened):
        ticket_id = event.data.ticket_id
        title = _customer_title(event, _label(number))
        if facts.owner and title:
            drafts.append((Audience.person(facts.owner), Kind.CUSTOMER_MESSAGE, title))
    elif isinstance(event, SlaWarning | SlaBreached | SlaEscalated):
        sla = event.data
        ticket_id = sla.ticket_id
        department = facts.department_id or sla.department_id
        owner = facts.owner or sla.agent_id
        drafts += _sla_drafts(event, _label(number), owner=owner, department=department)
    elif isinstance(event, CareWaitExceeded):
        wait = event.data
        minutes = round(wait.waited_seconds / 60)
        title = f"Customer {wait.number} has waited {minutes} min at counter {wait.counter}"
        drafts += [
            (Audience.supervisors(EVERY_DEPARTMENT), Kind.WAIT_EXCEEDED, title),
            (ADMINS, Kind.WAIT_EXCEEDED, title),
        ]
        department, number = None, None

    return [
        Notification(
            id=notification_id(event.id, audience),
            event_id=event.id,
            audience=audience,
            kind=kind,
            title=title,
            at=event.time,
            ticket_id=ticket_id,
            ticket_number=number,
            department_id=department,
        )
        for audience, kind, title in _first_per_audience(drafts)
    ]


def _label(number: str | None) -> str:
    return f"Ticket {number}" if number else "A ticket"


def _customer_title(event: TicketMessageReceived | TicketRepeatContact | TicketReopened, label: str) -> str | None:
    if isinstance(event, TicketMessageReceived):
        return f"{label}: the customer wrote"
    if isinstance(event, TicketRepeatContact):
        return f"{label}: the customer got in touch again" + (" and it reopened" if event.data.reopened else "")
    # A reopen by a message or a repeat contact was told by that event already.
    if event.data.reason == "customer_request":
        return f"{label}: the customer reopened it"
    return None


def _clock_name(clock: ClockKind) -> str:
    return clock.value.replace("_", " ")


def _sla_drafts(
    event: SlaWarning | SlaBreached | SlaEscalated, label: str, *, owner: str | None, department: str | None
) -> list[tuple[Audience, Kind, str]]:
    data = event.data
    clock = _clock_name(data.clock)
    if isinstance(event, SlaWarning):
        due = f"{data.due_at:%H:%M} UTC"
        return [(Audience.person(owner), Kind.SLA_WARNING, f"{label}: {clock} due at {due}")] if owner else []
    if isinstance(event, SlaBreached):
        return [(Audience.person(owner), Kind.SLA_BREACHED, f"{label}: {clock} target missed")] if owner else []
    step = event.data
    supervisors = [Audience.supervisors(department)] if department else []
    if step.notify is EscalationTarget.ASSIGNEE:
        title = f"{label} escalated (level {step.level}): {clock} at {step.share:.0%} of its target"
        targets = [Audience.person(owner)] if owner else supervisors
        return [(a, Kind.ESCALATION, title) for a in targets]
    if step.notify is EscalationTarget.SUPERVISOR:
        title = f"{label} escalated to the supervisors (level {step.level}): {clock}"
        return [(a, Kind.ESCALATION, title) for a in [*supervisors, ADMINS]]
    group = f" to {step.group}" if step.group else ""
    title = f"{label} escalated{group} (level {step.level}): {clock}"
    return [(a, Kind.GROUP_ESCALATION, title) for a in [*supervisors, ADMINS]]


def _first_per_audience(drafts: Iterable[tuple[Audience, Kind, str]]) -> list[tuple[Audience, Kind, str]]:
    seen: set[Audience] = set()
    kept = []
    for draft in drafts:
        if draft[0] not in seen:
            seen.add(draft[0])
            kept.append(draft)
    return kept
