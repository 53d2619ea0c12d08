"""routing's rules as pure functions: the priority score, the segment seam, who is eligible and
who is chosen, who may set an agent's presence, and who may read, take, assign or transfer a
ticket and to whom it may be given by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_routing.assignments import domain
from ticketloop_routing.assignments.domain import Candidate, State
from ticketloop_routing.customers.domain import segment_of
from ticketloop_routing.organisation.domain import AgentConfig, Presence, Strategy, listing_scope, presence_refusal
from ticketloop_shared.vocabulary import Segment

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def score(**overrides: object) -> float:
    values: dict[str, object] = {"urgency": "normal", "segment": "potential", "channel": "web", **overrides}
    return domain.priority_score(**values)  # type: ignore[arg-type]


def agent(agent_id: str, **state: object) -> Candidate:
    skills = frozenset(state.pop("skills", ()))  # type: ignore[call-overload]
    config = AgentConfig(id=agent_id, name=agent_id.title(), department_id="desk", skills=skills)
    values: dict[str, object] = {"presence": Presence.AVAILABLE, "open_tickets": 0, "capacity": None, **state}
    return Candidate(agent=config, **values)  # type: ignore[arg-type]


# --- score -----------------------------------------------------------------------------------


def test_critical_before_urgent_before_normal() -> None:
    assert score(urgency="critical") > score(urgency="urgent") > score(urgency="normal")


def test_high_value_customers_before_every_other_segment() -> None:
    others = [Segment.NEW, Segment.POTENTIAL, Segment.CHURN_RISK]
    assert all(score(segment=Segment.HIGH_VALUE) > score(segment=s) for s in others)


def test_a_high_value_normal_ticket_goes_before_an_urgent_one_but_not_a_critical_one() -> None:
    vip = score(segment=Segment.HIGH_VALUE)
    assert score(urgency="urgent") < vip < score(urgency="critical")


@pytest.mark.parametrize("slow", ["email", "web"])
@pytest.mark.parametrize("live", ["phone", "messaging"])
def test_phone_and_messaging_before_email_and_web(live: str, slow: str) -> None:
    assert score(channel=live) > score(channel=slow)


def test_waiting_raises_the_score_a_point_a_minute() -> None:
    assert score(waited_seconds=600) == pytest.approx(score() + 10)
    assert score(waited_seconds=3601) > score(segment=Segment.HIGH_VALUE)  # an hour: worth a fresh VIP


def test_unknown_values_count_nothing() -> None:
    assert score(urgency="odd", segment="odd", channel="pigeon") == 0.0


def test_the_queue_rank_orders_as_the_score_does_at_any_instant() -> None:
    early = domain.queue_rank(score(), NOW - timedelta(minutes=30))
    late_vip = domain.queue_rank(score(segment=Segment.HIGH_VALUE), NOW)
    assert late_vip > early
    later = NOW + timedelta(hours=5)
    assert domain.score_at(early, later) == pytest.approx(score(waited_seconds=30 * 60 + 5 * 3600))
    assert domain.score_at(late_vip, later) - domain.score_at(early, later) == pytest.approx(late_vip - early)


# --- segment ---------------------------------------------------------------------------------


def test_the_segment_is_the_one_retrospective_announced() -> None:
    for segment in Segment:
        assert segment_of(segment.value) is segment


def test_a_customer_nobody_announced_yet_ranks_as_new_whatever_the_ticket_says() -> None:
    """routing derives nothing from a ticket (retrospective's `segment_for` is the one rule):
    the customer it has heard nothing about ranks as a newcomer, as retrospective would classify
    a customer whose relationship starts now."""
    assert segment_of(None) is Segment.NEW
    assert segment_of("platinum") is Segment.NEW  # a segment this version does not know
    assert score(segment=segment_of(None)) == score(segment="new")


# --- choosing --------------------------------------------------------------------------------


def test_least_loaded_takes_the_fewest_open_tickets_ties_by_id() -> None:
    choice = domain.choose_agent(
        [agent("b", open_tickets=1), agent("c", open_tickets=0), agent("a", open_tickets=0)],
        strategy=Strategy.LEAST_LOADED,
    )
    assert choice.agent_id == "a"
    assert choice.reason.rule.startswith("least_loaded")
    assert [c.agent_id for c in choice.reason.candidates] == ["a", "b", "c"]


def test_round_robin_takes_the_one_given_a_ticket_least_recently_never_first() -> None:
    pool = [agent("a", last_turn=7, open_tickets=0), agent("b", last_turn=3, open_tickets=5)]
    assert domain.choose_agent(pool, strategy=Strategy.ROUND_ROBIN).agent_id == "b"
    assert domain.choose_agent([*pool, agent("c", open_tickets=9)], strategy=Strategy.ROUND_ROBIN).agent_id == "c"


def test_only_available_agents_below_capacity_are_eligible() -> None:
    choice = domain.choose_agent(
        [
            agent("a", presence=Presence.AWAY),
            agent("b", presence=Presence.OFFLINE),
            agent("c", open_tickets=2, capacity=2),
            agent("d", open_tickets=5, capacity=6),
        ],
        strategy=Strategy.LEAST_LOADED,
    )
    assert choice.agent_id == "d"
    why = {c.agent_id: c.why_not for c in choice.reason.candidates}
    assert why == {"a": "away", "b": "offline", "c": "at_capacity", "d": None}


def test_skills_must_all_be_covered_then_least_loaded() -> None:
    pool = [
        agent("a", skills={"language:fr"}),
        agent("b", skills={"language:fr", "refunds"}, open_tickets=3),
        agent("c", skills={"language:fr", "refunds"}, open_tickets=1),
    ]
    choice = domain.choose_agent(pool, strategy=Strategy.SKILLS, required_skills=["refunds", "language:fr"])
    assert choice.agent_id == "c"
    assert {c.agent_id: c.why_not for c in choice.reason.candidates}["a"] == "missing_skills:refunds"


def test_nobody_skilled_means_the_ticket_waits() -> None:
    choice = domain.choose_agent([agent("a")], strategy=Strategy.SKILLS, required_skills=["language:de"])
    assert choice.agent_id is None
    assert choice.reason.rule == domain.RULE_QUEUED_SKILLS


def test_other_strategies_do_not_filter_by_skill() -> None:
    choice = domain.choose_agent([agent("a")], strategy=Strategy.LEAST_LOADED, required_skills=["language:de"])
    assert choice.agent_id == "a"


def test_a_preferred_agent_goes_first_when_eligible() -> None:
    pool = [agent("a"), agent("m", open_tickets=4, capacity=5)]
    choice = domain.choose_agent(pool, strategy=Strategy.LEAST_LOADED, preferred=[("m", domain.RULE_ACCOUNT_MANAGER)])
    assert (choice.agent_id, choice.reason.rule) == ("m", domain.RULE_ACCOUNT_MANAGER)
    full = [agent("a"), agent("m", open_tickets=5, capacity=5)]
    fallback = domain.choose_agent(full, strategy=Strategy.LEAST_LOADED, preferred=[("m", domain.RULE_ACCOUNT_MANAGER)])
    assert fallback.agent_id == "a"


def test_the_reason_says_what_prompted_it_score_and_wait() -> None:
    choice = domain.choose_agent(
        [agent("a")], strategy=Strategy.LEAST_LOADED, score=42.0, waited_seconds=90, because="away_reassign: x"
    )
    assert choice.reason.rule.startswith("away_reassign: x; least_loaded")
    assert (choice.reason.score, choice.reason.waited_seconds) == (42.0, 90.0)


def test_closed_tickets_can_only_reopen() -> None:
    assert domain.can_move(State.CLOSED, State.ASSIGNED)
    assert not domain.can_move(State.CLOSED, State.CLOSED)
    assert domain.can_move(None, State.CLOSED)


# --- presence permission -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sub", "department", "refusal"),
    [
        ("agent", "a-1", "desk", None),
        ("agent", "a-2", "desk", "presence_not_own"),
        ("supervisor", "s-1", "desk", None),
        ("supervisor", "s-2", "tech", "presence_other_department"),
        ("admin", "root", None, None),
        ("notifier", "mailer", None, "presence_not_allowed"),
    ],
)
def test_who_may_set_an_agents_presence(role: str, sub: str, department: str | None, refusal: str | None) -> None:
    got = presence_refusal(role=role, sub=sub, department=department, agent_id="a-1", agent_department="desk")
    assert got == refusal


# --- people acting on a ticket ---------------------------------------------------------------

Act = domain.Act


@pytest.mark.parametrize(
    ("act", "role", "department", "refusal"),
    [
        (Act.READ, "agent", "desk", None),
        (Act.READ, "agent", "tech", "not_your_department"),
        (Act.READ, "admin", None, None),
        (Act.TAKE, "agent", "desk", None),
        (Act.TAKE, "supervisor", "desk", None),
        (Act.TAKE, "agent", "tech", "not_your_department"),
        (Act.TAKE, "admin", None, "agent_or_supervisor_required"),
        (Act.ASSIGN, "supervisor", "desk", None),
        (Act.ASSIGN, "admin", None, None),
        (Act.ASSIGN, "agent", "desk", "supervisor_required"),
        (Act.ASSIGN, "agent", "tech", "supervisor_required"),
        (Act.ASSIGN, "supervisor", "tech", "not_your_department"),
        (Act.TRANSFER, "supervisor", "desk", None),
        (Act.TRANSFER, "supervisor", "tech", "not_your_department"),
        (Act.TRANSFER, "agent", "desk", "supervisor_required"),
        (Act.TRANSFER, "admin", None, None),
        (Act.READ, "notifier", None, "staff_required"),
        (Act.READ, "agent", None, "department_required"),
    ],
)
def test_who_may_do_what_to_a_ticket(act: domain.Act, role: str, department: str | None, refusal: str | None) -> None:
    assert domain.act_refusal(act, role=role, department=department, ticket_department="desk") == refusal


def test_a_ticket_no_department_holds_is_read_by_admins_only() -> None:
    assert domain.act_refusal(Act.READ, role="agent", department="desk", ticket_department=None) == (
        "not_your_department"
    )
    assert domain.act_refusal(Act.READ, role="admin", department=None, ticket_department=None) is None


@pytest.mark.parametrize(
    ("state", "override", "refusal"),
    [
        ({}, False, None),
        ({"presence": Presence.AWAY}, False, "agent_away"),
        ({"presence": Presence.OFFLINE}, False, "agent_away"),
        ({"open_tickets": 3, "capacity": 3}, False, "agent_at_capacity"),
        ({"presence": Presence.AWAY, "open_tickets": 3, "capacity": 3}, True, None),
    ],
)
def test_an_away_or_full_agent_is_given_a_ticket_only_by_override(
    state: dict[str, object], override: bool, refusal: str | None
) -> None:
    got = domain.holder_refusal(agent("a", **state), department_id="desk", unlisted_ok=False, override=override)
    assert got == refusal


def test_a_ticket_goes_by_hand_only_to_an_active_agent_of_its_department() -> None:
    assert domain.holder_refusal(agent("a"), department_id="tech", unlisted_ok=False) == "agent_not_in_department"
    inactive = domain.Candidate(
        agent=AgentConfig(id="a", name="A", department_id="desk", active=False),
        presence=Presence.AVAILABLE,
        open_tickets=0,
        capacity=None,
    )
    assert domain.holder_refusal(inactive, department_id="desk", unlisted_ok=False, override=True) == "agent_inactive"


def test_someone_who_is_not_an_agent_holds_a_ticket_only_when_allowed() -> None:
    """A supervisor who is not a configured agent takes a ticket, or is assigned one as the
    department's supervisor, whatever their load; anyone else unknown is refused."""
    assert domain.holder_refusal(None, department_id="desk", unlisted_ok=True) is None
    assert domain.holder_refusal(None, department_id="desk", unlisted_ok=False) == "agent_not_in_department"


def test_an_override_needs_a_note() -> None:
    assert domain.override_refusal(override=True, note=None) == "note_required"
    assert domain.override_refusal(override=True, note="  ") == "note_required"
    assert domain.override_refusal(override=True, note="covering for Sam") is None
    assert domain.override_refusal(override=False, note=None) is None


def test_a_manual_reason_names_the_act_the_actor_the_note_and_the_holders_state() -> None:
    reason = domain.manual_reason(
        rule=domain.RULE_ASSIGNED_BY,
        actor=domain.actor_of("supervisor", "sup-desk"),
        note="covering",
        strategy=Strategy.LEAST_LOADED,
        score=12.3456,
        holder=agent("a", presence=Presence.AWAY),
        waited_seconds=60,
    )
    assert (reason.rule, reason.actor, reason.note, reason.score) == (
        "assigned_by",
        "supervisor:sup-desk",
        "covering",
        12.346,
    )
    [listed] = reason.candidates
    assert (listed.agent_id, listed.eligible, listed.why_not) == ("a", False, "away")
    unlisted = domain.manual_reason(
        rule=domain.RULE_TAKEN, actor="supervisor:s", note=None, strategy=Strategy.SKILLS, score=None, holder=None
    )
    assert unlisted.candidates == [] and unlisted.strategy == "skills"


@pytest.mark.parametrize(
    ("role", "department", "asked", "expected"),
    [
        ("admin", None, None, (None, None)),
        ("admin", None, "tech", ("tech", None)),
        ("agent", "desk", None, ("desk", None)),
        ("supervisor", "desk", "desk", ("desk", None)),
        ("agent", "desk", "tech", (None, "not_your_department")),
        ("agent", None, None, (None, "department_required")),
    ],
)
def test_staff_lists_show_the_callers_department_only(
    role: str, department: str | None, asked: str | None, expected: tuple[str | None, str | None]
) -> None:
    assert listing_scope(role=role, department=department, asked=asked) == expected
