"""Who is told what: the workspace's notification rule, event by event, and the ticket facts it
learns from the topics."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import T0, Story, create_wait_exceeded
from ticketloop_shared.auth import Role
from ticketloop_shared.events import AssignmentReason, ClockKind, EscalationTarget, SlaEscalated, TicketAssigned
from ticketloop_shared.events.catalog import AnyEvent, Payload, parse_event
from ticketloop_shared.unit_of_work import build_event
from ticketloop_workspace.notifications.domain import (
    ADMINS,
    EVERY_DEPARTMENT,
    Audience,
    Kind,
    Notification,
    TicketBook,
    TicketFacts,
    audiences_of,
    event_id_of,
    notification_id,
    notifications_for,
)

ANNA, BEN = "agent-anna", "agent-ben"
SALES = "after_sales"


def owned(story: Story, owner: str = ANNA, *, department: str = SALES) -> TicketFacts:
    return TicketFacts(number=story.number, department_id=department, department_name="After-sales", owner=owner)


def rebuilt(data: Payload, *, source: str) -> AnyEvent:
    """An event around changed data, as its producer would stamp it."""
    return parse_event(build_event(data, source=source, time=T0).model_dump(mode="json"))


def told(notes: list[Notification]) -> list[tuple[str, Kind]]:
    return [(str(n.audience), n.kind) for n in notes]


def test_an_assigned_ticket_is_told_to_its_new_owner_with_its_number() -> None:
    story = Story()
    notes = notifications_for(story.assigned(T0, ANNA), TicketFacts(number=story.number))
    assert told(notes) == [(f"person:{ANNA}", Kind.ASSIGNED)]
    note = notes[0]
    assert note.ticket_id == story.ticket_id
    assert note.ticket_number == story.number
    assert note.department_id == SALES
    assert story.number in note.title
    assert note.at == T0


def test_a_ticket_taken_from_the_queue_tells_the_taker_and_refreshes_the_department_queue() -> None:
    story = Story()
    data = story.assigned(T0, BEN).data.model_copy(
        update={"reason": AssignmentReason(strategy="manual", rule="taken", score=3.0)}
    )
    event = rebuilt(data, source="routing")
    queued = TicketFacts(number=story.number, department_id=SALES, department_name="After-sales", queued=True)
    notes = notifications_for(event, queued)
    assert told(notes) == [(f"person:{BEN}", Kind.ASSIGNED), (f"staff:{SALES}", Kind.QUEUED)]
    assert notes[0].title.startswith("You took")


def test_a_reassignment_tells_the_new_owner_and_the_one_who_lost_it() -> None:
    story = Story()
    notes = notifications_for(story.reassigned(T0, BEN, previous=ANNA), owned(story, ANNA))
    assert told(notes) == [(f"person:{BEN}", Kind.ASSIGNED), (f"person:{ANNA}", Kind.ASSIGNED)]
    assert "Agent-Ben" in notes[1].title


def test_the_same_owner_assigned_again_is_told_once() -> None:
    story = Story()
    assert told(notifications_for(story.assigned(T0, ANNA), owned(story, ANNA))) == [(f"person:{ANNA}", Kind.ASSIGNED)]


def test_a_queued_ticket_refreshes_its_department_queue_and_the_owner_it_left() -> None:
    story = Story()
    assert told(notifications_for(story.queued(T0), None)) == [(f"staff:{SALES}", Kind.QUEUED)]
    assert told(notifications_for(story.queued(T0), owned(story, ANNA))) == [
        (f"person:{ANNA}", Kind.ASSIGNED),
        (f"staff:{SALES}", Kind.QUEUED),
    ]


def test_a_ticket_transferred_from_one_queue_to_another_refreshes_both_queues() -> None:
    story = Story()
    waiting_in_billing = TicketFacts(number=story.number, department_id="billing", queued=True)
    assert told(notifications_for(story.queued(T0), waiting_in_billing)) == [
        (f"staff:{SALES}", Kind.QUEUED),
        ("staff:billing", Kind.QUEUED),
    ]


def test_the_customer_writing_again_is_told_to_the_owner_only() -> None:
    story = Story()
    for event in (story.message_received(T0), story.repeat_contact(T0), story.reopened(T0, reason="customer_request")):
        assert told(notifications_for(event, owned(story))) == [(f"person:{ANNA}", Kind.CUSTOMER_MESSAGE)]
    assert notifications_for(story.message_received(T0), None) == []


def test_a_reopen_by_a_message_or_repeat_contact_is_not_told_twice() -> None:
    story = Story()
    for reason in ("customer_message", "repeat_contact"):
        assert notifications_for(story.reopened(T0, reason=reason), owned(story)) == []


def test_sla_warning_and_breach_go_to_the_owner() -> None:
    story = Story()
    warning = notifications_for(story.warning(ClockKind.FIRST_RESPONSE, T0), owned(story))
    breach = notifications_for(story.breached(ClockKind.RESOLUTION, T0), owned(story))
    assert told(warning) == [(f"person:{ANNA}", Kind.SLA_WARNING)]
    assert "first response" in warning[0].title and story.number in warning[0].title
    assert told(breach) == [(f"person:{ANNA}", Kind.SLA_BREACHED)]
    assert breach[0].department_id == SALES


def test_sla_facts_name_the_owner_when_the_book_does_not_know_the_ticket() -> None:
    story = Story()
    data = story.breached(ClockKind.FIRST_RESPONSE, T0).data
    event = rebuilt(data.model_copy(update={"agent_id": BEN, "department_id": "billing"}), source="sla")
    notes = notifications_for(event, None)
    assert told(notes) == [(f"person:{BEN}", Kind.SLA_BREACHED)]
    assert notes[0].department_id == "billing"
    assert notes[0].ticket_number is None and notes[0].title.startswith("A ticket")


def test_an_unowned_ticket_breaching_tells_nobody_directly() -> None:
    story = Story()
    assert notifications_for(story.breached(ClockKind.FIRST_RESPONSE, T0), None) == []


def escalation(story: Story, notify: EscalationTarget, level: int) -> SlaEscalated:
    event = story.escalated(ClockKind.RESOLUTION, T0, level=level, notify=notify)
    if notify is EscalationTarget.GROUP:
        group_step = rebuilt(event.data.model_copy(update={"group": "service-managers"}), source="sla")
        assert isinstance(group_step, SlaEscalated)
        return group_step
    return event


def test_an_assignee_escalation_goes_to_the_owner_or_else_to_the_supervisors() -> None:
    story = Story()
    event = escalation(story, EscalationTarget.ASSIGNEE, 1)
    assert told(notifications_for(event, owned(story))) == [(f"person:{ANNA}", Kind.ESCALATION)]
    assert told(notifications_for(event, None)) == [(f"supervisors:{SALES}", Kind.ESCALATION)]


def test_a_supervisor_escalation_goes_to_the_department_supervisors_and_admins() -> None:
    story = Story()
    notes = notifications_for(escalation(story, EscalationTarget.SUPERVISOR, 2), owned(story))
    assert told(notes) == [(f"supervisors:{SALES}", Kind.ESCALATION), ("admins:", Kind.ESCALATION)]


def test_a_group_escalation_names_its_group_for_supervisors_and_admins() -> None:
    story = Story()
    notes = notifications_for(escalation(story, EscalationTarget.GROUP, 3), owned(story))
    assert told(notes) == [(f"supervisors:{SALES}", Kind.GROUP_ESCALATION), ("admins:", Kind.GROUP_ESCALATION)]
    assert "service-managers" in notes[0].title and "level 3" in notes[0].title


def test_a_long_counter_wait_goes_to_every_supervisor_and_the_admins() -> None:
    notes = notifications_for(create_wait_exceeded(T0, counter="store-7"), None)
    assert told(notes) == [(f"supervisors:{EVERY_DEPARTMENT}", Kind.WAIT_EXCEEDED), ("admins:", Kind.WAIT_EXCEEDED)]
    assert notes[0].ticket_id is None and notes[0].department_id is None
    assert "store-7" in notes[0].title and "21 min" in notes[0].title


def test_events_nobody_is_told_of_make_no_notification() -> None:
    story = Story()
    facts = owned(story)
    quiet: list[AnyEvent] = [
        story.created(),
        story.replied(T0),
        story.resolved(T0),
        story.status_changed(T0, "new", "assigned", action="assign"),
        story.met(ClockKind.FIRST_RESPONSE, T0),
        story.clocks_changed(T0),
        story.closed(T0, resolved_at=T0),
    ]
    for event in quiet:
        assert notifications_for(event, facts) == [], event.type


def test_notification_ids_are_stable_distinct_per_audience_and_ordered_by_event_time() -> None:
    story = Story()
    first = story.assigned(T0, ANNA)
    later = story.message_received(T0 + timedelta(minutes=1))
    a = notifications_for(first, None)[0]
    again = notifications_for(first, None)[0]
    assert a.id == again.id == notification_id(first.id, Audience.person(ANNA))
    assert notification_id(first.id, Audience.person(BEN)) != a.id
    assert event_id_of(a.id) == first.id
    assert a.id.isascii() and "\n" not in a.id
    b = notifications_for(later, owned(story))[0]
    assert a.id < b.id  # UUIDv7 event ids: later events sort later
    assert event_id_of("not-an-id") is None


def test_a_person_belongs_to_their_own_audiences_only() -> None:
    assert audiences_of(ANNA, Role.AGENT, SALES) == (Audience.person(ANNA), Audience.staff(SALES))
    assert audiences_of("sup-1", Role.SUPERVISOR, SALES) == (
        Audience.person("sup-1"),
        Audience.supervisors(SALES),
        Audience.supervisors(EVERY_DEPARTMENT),
        Audience.staff(SALES),
    )
    assert audiences_of("root", Role.ADMIN, None) == (Audience.person("root"), ADMINS)
    # A department role without its department hears only what is addressed to the person.
    assert audiences_of(ANNA, Role.AGENT, None) == (Audience.person(ANNA),)


def test_the_book_learns_owner_department_and_number_and_forgets_closed_tickets() -> None:
    book = TicketBook(max_tickets=100)
    story = Story()
    book.learn(story.created())
    assert book.get(story.ticket_id) == TicketFacts(number=story.number)
    book.learn(story.queued(T0))
    facts = book.get(story.ticket_id)
    assert facts is not None and facts.queued and facts.department_id == SALES and facts.owner is None
    book.learn(story.assigned(T0, ANNA))
    facts = book.get(story.ticket_id)
    assert facts is not None and facts.owner == ANNA and not facts.queued and facts.number == story.number
    book.learn(story.reassigned(T0, BEN, previous=ANNA))
    assert (book.get(story.ticket_id) or TicketFacts()).owner == BEN
    book.learn(story.closed(T0, resolved_at=T0))
    assert book.get(story.ticket_id) is None
    # A late reply of a closed ticket does not bring it back; the customer reopening it does.
    book.learn(story.replied(T0))
    assert book.get(story.ticket_id) is None
    book.learn(story.reopened(T0))
    assert (book.get(story.ticket_id) or TicketFacts()).number == story.number


def test_the_book_is_bounded_and_forgets_the_least_recently_seen_first() -> None:
    book = TicketBook(max_tickets=100)
    stories = [Story() for _ in range(101)]
    for story in stories:
        book.learn(story.created())
    book.learn(stories[1].assigned(T0, ANNA))  # seen again: kept
    book.learn(Story().created())
    assert len(book) == 100
    assert book.get(stories[0].ticket_id) is None
    assert book.get(stories[1].ticket_id) is not None
    assert book.get(stories[2].ticket_id) is None


def test_get_returns_a_copy_so_the_rule_sees_the_state_before_the_event() -> None:
    book = TicketBook(max_tickets=100)
    story = Story()
    book.learn(story.assigned(T0, ANNA))
    before = book.get(story.ticket_id)
    event: TicketAssigned = story.assigned(T0, BEN)
    book.learn(event)
    assert before is not None and before.owner == ANNA
    expected = [(f"person:{BEN}", Kind.ASSIGNED), (f"person:{ANNA}", Kind.ASSIGNED)]
    assert told(notifications_for(event, before)) == expected


def test_every_event_of_the_catalog_goes_through_the_rule_and_the_book() -> None:
    story = Story()
    book = TicketBook(max_tickets=100)
    for event in [*story.every_event(), create_wait_exceeded(T0)]:
        typed = parse_event(event.model_dump(mode="json"))
        for note in notifications_for(typed, book.get(story.ticket_id)):
            assert note.title and note.id.startswith(str(event.id))
        book.learn(typed)
