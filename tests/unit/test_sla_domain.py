"""The SLA engine's rules on their own: which event starts, pauses, re-targets and stops which
metric, in business time, and what is announced, each once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_shared.events import ClockKind, ClockOutcome, EscalationTarget
from ticketloop_sla.clocks import rules
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_slarules import cycles as domain
from ticketloop_slarules.calendars import Calendar, business_hours
from ticketloop_slarules.cycles import Announce
from ticketloop_slarules.policies import (
    FALLBACK,
    SPEC_ESCALATION,
    SPEC_PAUSES,
    Conditions,
    Facts,
    Policy,
    Rules,
    Step,
    Target,
    choose,
    spec_targets,
    validate,
)

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
MINUTE = timedelta(minutes=1)
K = ClockKind


def create_policy(**overrides: object) -> Policy:
    """SPEC's defaults under an id of its own."""
    values: dict[str, object] = {
        "id": "default",
        "name": "default",
        "position": 100,
        "targets": spec_targets(first_response_minutes=15),
        "pauses": SPEC_PAUSES,
        "escalation": SPEC_ESCALATION,
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def create_rules(*policies: Policy, calendars: dict[str, Calendar] | None = None) -> Rules:
    """Rules holding `policies` (SPEC defaults when none)."""
    return Rules(policies=list(policies) or [create_policy()], calendars=calendars or {}, version=1)


def create_ticket(*, channel: str = "web", created_at: datetime = MON, live: bool = False) -> Ticket:
    """A ticket sla sees for the first time."""
    return Ticket(
        ticket_id=uuid.uuid4(),
        number="T1",
        channel=channel,
        category="billing",
        urgency="normal",
        customer_id="c-1",
        created_at=created_at,
        live=live,
        new=True,
    )


def started(r: Rules, **kwargs: object) -> Ticket:
    t = create_ticket(**kwargs)  # type: ignore[arg-type]
    rules.begin(t, r)
    return t


def notes(t: Ticket, kind: ClockKind | None = None) -> list[tuple[Announce, ClockKind, int]]:
    """What was announced (about `kind`, when given), in order, and forget it all."""
    out = [(n.what, n.cycle.kind, n.cycle.cycle) for n in t.notes if kind is None or n.cycle.kind is kind]
    t.notes.clear()
    return out


# --- which clocks run ------------------------------------------------------------------------


def test_a_report_starts_every_metric_that_runs_from_it_with_the_spec_targets() -> None:
    t = started(create_rules())
    assert set(t.clocks) == {K.ACKNOWLEDGEMENT, K.FIRST_RESPONSE, K.PLAN, K.RESOLUTION, K.PERIODIC_UPDATE}
    due = {k: c.due_at for k, c in t.clocks.items()}
    assert due[K.ACKNOWLEDGEMENT] == MON + 10 * MINUTE
    assert due[K.FIRST_RESPONSE] == MON + 15 * MINUTE
    assert due[K.PLAN] == MON + 120 * MINUTE
    assert due[K.PERIODIC_UPDATE] == MON + timedelta(hours=24)


@pytest.mark.parametrize(("channel", "live"), [("phone", False), ("messaging", True)])
def test_live_sessions_and_calls_run_the_30_second_access_clock(channel: str, live: bool) -> None:
    t = started(create_rules(), channel=channel, live=live)
    assert t.clocks[K.LIVE_ACCESS].due_at == MON + timedelta(seconds=30)


def test_an_email_runs_no_live_access_clock() -> None:
    assert K.LIVE_ACCESS not in started(create_rules(), channel="email").clocks


def test_the_first_policy_whose_conditions_hold_wins_and_the_fallback_answers_otherwise() -> None:
    voice = create_policy(id="voice", position=10, conditions=Conditions(channels=frozenset({"phone"})))
    vip = create_policy(id="vip", position=5, conditions=Conditions(segments=frozenset({"high_value"})))
    default = create_policy(id="default", position=100)
    facts = Facts(channel="phone", category="billing", urgency="normal", segment="high_value")
    assert choose([default, voice, vip], facts).id == "vip"
    assert choose([default, voice, vip], Facts("phone", "billing", "normal", None)).id == "voice"
    assert choose([voice], Facts("web", "billing", "normal", None)) is FALLBACK


def test_a_policy_can_select_on_the_customers_need() -> None:
    """SPEC §2: "after-sales repair response within 2 hours": a policy for repairs applies to
    tickets whose need is repair, and to no ticket whose need is not known."""
    repair = create_policy(id="repair", position=20, conditions=Conditions(needs=frozenset({"repair"})))
    default = create_policy(id="default", position=100)
    assert choose([default, repair], Facts("web", "product_quality", "normal", None, need="repair")).id == "repair"
    assert choose([default, repair], Facts("web", "product_quality", "normal", None, need="refund")).id == "default"
    assert choose([default, repair], Facts("web", "product_quality", "normal", None)).id == "default"


def test_a_condition_on_an_unknown_need_is_refused() -> None:
    typo = create_policy(conditions=Conditions(needs=frozenset({"repair", "repiar"})))
    assert validate(typo, calendars=set()) == [("conditions.needs", "unknown need repiar")]
    assert validate(create_policy(conditions=Conditions(needs=frozenset({"repair"}))), calendars=set()) == []


# --- stop, breach, announce once ---------------------------------------------------------------


def test_a_reply_in_time_meets_first_response_with_its_margin_once() -> None:
    r = create_rules()
    t = started(r)
    rules.answered(t, r, at=MON + 5 * MINUTE)
    # Issue 20: a reply no longer meets the acknowledgement (only its delivery does, below).
    assert notes(t) == [
        (Announce.MET, K.FIRST_RESPONSE, 1),
        (Announce.MET, K.PERIODIC_UPDATE, 1),
    ]
    assert t.clocks[K.FIRST_RESPONSE].margin_seconds == 600
    rules.answered(t, r, at=MON + 6 * MINUTE)
    assert (Announce.MET, K.FIRST_RESPONSE, 1) not in notes(t)


def test_only_the_acknowledgement_reaching_the_customer_meets_its_clock() -> None:
    r = create_rules()
    t = started(r)
    rules.assigned(t, agent_id="agent-1", department_id="billing")
    assert notes(t) == []
    rules.acknowledged(t, r, at=MON + 2 * MINUTE)
    assert notes(t) == [(Announce.MET, K.ACKNOWLEDGEMENT, 1)]
    assert t.clocks[K.ACKNOWLEDGEMENT].stopped_at == MON + 2 * MINUTE


def test_live_access_is_met_by_the_connection_not_by_the_assignment() -> None:
    r = create_rules()
    t = started(r, channel="phone")
    rules.assigned(t, agent_id="agent-1", department_id="billing")
    assert K.LIVE_ACCESS not in [k for _, k, _ in notes(t)]
    rules.connected(t, r, at=MON + timedelta(seconds=20))
    assert notes(t) == [(Announce.MET, K.LIVE_ACCESS, 1)]


def test_the_timer_warns_breaches_and_escalates_each_once_and_never_early() -> None:
    r = create_rules()
    t = started(r)
    due = MON + 15 * MINUTE
    rules.tick(t, r, now=MON + timedelta(minutes=11, seconds=14))
    assert (Announce.WARNING, K.FIRST_RESPONSE, 1) not in notes(t, K.FIRST_RESPONSE)
    rules.tick(t, r, now=MON + timedelta(minutes=11, seconds=15))  # 75 % of 15 minutes
    assert notes(t, K.FIRST_RESPONSE) == [
        (Announce.WARNING, K.FIRST_RESPONSE, 1),
        (Announce.ESCALATED, K.FIRST_RESPONSE, 1),
    ]
    rules.tick(t, r, now=due - timedelta(microseconds=1))
    assert notes(t, K.FIRST_RESPONSE) == []
    rules.tick(t, r, now=due)
    assert notes(t, K.FIRST_RESPONSE) == [
        (Announce.BREACHED, K.FIRST_RESPONSE, 1),
        (Announce.ESCALATED, K.FIRST_RESPONSE, 1),
    ]
    assert t.clocks[K.FIRST_RESPONSE].breached_at == due
    rules.tick(t, r, now=due + timedelta(minutes=7, seconds=30))  # 150 %: the group
    assert notes(t, K.FIRST_RESPONSE) == [(Announce.ESCALATED, K.FIRST_RESPONSE, 1)]
    assert t.clocks[K.FIRST_RESPONSE].escalation_level == 3
    rules.tick(t, r, now=due + timedelta(hours=1))
    assert notes(t, K.FIRST_RESPONSE) == []


def test_a_warning_its_breach_overtakes_in_the_same_look_is_not_announced() -> None:
    r = create_rules()
    t = started(r)
    rules.tick(t, r, now=MON + 15 * MINUTE)  # the timer's first look finds 75 % and 100 % passed
    assert notes(t, K.FIRST_RESPONSE) == [
        (Announce.ESCALATED, K.FIRST_RESPONSE, 1),
        (Announce.BREACHED, K.FIRST_RESPONSE, 1),
        (Announce.ESCALATED, K.FIRST_RESPONSE, 1),
    ]
    assert t.clocks[K.FIRST_RESPONSE].warned, "settled: never told late"
    rules.tick(t, r, now=MON + timedelta(hours=1))
    assert (Announce.WARNING, K.FIRST_RESPONSE, 1) not in notes(t, K.FIRST_RESPONSE)


def test_a_warning_or_an_escalation_step_alone_changes_no_deadline_a_reader_sees() -> None:
    r = create_rules()
    t = started(r)
    t.changed = False  # published
    rules.tick(t, r, now=MON + timedelta(minutes=7, seconds=30))  # 75 % of the acknowledgement's 10 minutes
    assert notes(t) == [
        (Announce.WARNING, K.ACKNOWLEDGEMENT, 1),
        (Announce.ESCALATED, K.ACKNOWLEDGEMENT, 1),
    ]
    assert not t.changed, "no sla.clocks_changed for them"
    assert K.ACKNOWLEDGEMENT in t.dirty, "but stored"
    rules.tick(t, r, now=MON + 10 * MINUTE)  # the breach: status and breach instant change
    assert t.changed


def test_a_reply_after_the_breach_records_the_lateness_and_does_not_erase_it() -> None:
    r = create_rules()
    t = started(r)
    rules.tick(t, r, now=MON + 15 * MINUTE)
    notes(t)
    rules.answered(t, r, at=MON + 20 * MINUTE)
    c = t.clocks[K.FIRST_RESPONSE]
    assert (c.status, c.stopped_at, c.margin_seconds) == (ClockOutcome.BREACHED, MON + 20 * MINUTE, -300)
    assert (Announce.MET, K.FIRST_RESPONSE, 1) not in notes(t)


def test_a_late_reply_the_timer_has_not_seen_is_a_breach_at_the_due_instant() -> None:
    r = create_rules()
    t = started(r)
    rules.answered(t, r, at=MON + 16 * MINUTE)
    breaches = [n for n in t.notes if n.what is Announce.BREACHED and n.cycle.kind is K.FIRST_RESPONSE]
    assert [n.at for n in breaches] == [MON + 15 * MINUTE]


def test_resolving_without_a_reply_cancels_first_response_rather_than_meeting_it() -> None:
    r = create_rules()
    t = started(r)
    rules.resolved(t, r, at=MON + 5 * MINUTE, first_response_at=None, self_service=False)
    assert t.clocks[K.FIRST_RESPONSE].status is ClockOutcome.CANCELLED
    assert t.clocks[K.RESOLUTION].status is ClockOutcome.MET
    assert t.clocks[K.FOLLOW_UP].due_at == MON + 125 * MINUTE


def test_a_self_service_answer_owes_no_follow_up() -> None:
    r = create_rules()
    t = started(r)
    rules.resolved(t, r, at=MON + MINUTE, first_response_at=None, self_service=True)
    assert K.FOLLOW_UP not in t.clocks


# --- pauses, recompute, recurring ------------------------------------------------------------


def test_waiting_on_the_customer_pauses_resolution_but_not_the_update_clock() -> None:
    r = create_rules()
    t = started(r)
    rules.status_changed(t, r, status="waiting_on_customer", at=MON + 30 * MINUTE)
    assert t.clocks[K.RESOLUTION].status is ClockOutcome.PAUSED
    assert t.clocks[K.RESOLUTION].due_at is None
    assert t.clocks[K.PERIODIC_UPDATE].status is ClockOutcome.RUNNING
    rules.status_changed(t, r, status="in_progress", at=MON + 90 * MINUTE)
    c = t.clocks[K.RESOLUTION]
    assert c.paused_seconds == 3600
    assert c.due_at == MON + timedelta(hours=25)  # 24 h of counting, one hour paused


def test_a_new_target_keeps_the_time_used_and_a_past_breach_stands() -> None:
    fast = create_policy(
        id="urgent",
        position=1,
        conditions=Conditions(urgencies=frozenset({"urgent"})),
        targets={**spec_targets(first_response_minutes=5), K.RESOLUTION: Target(240)},
    )
    r = create_rules(fast, create_policy())
    t = started(r)
    rules.tick(t, r, now=MON + 15 * MINUTE)  # first response breached under the default
    t.urgency = "urgent"
    rules.refresh(t, r, at=MON + 60 * MINUTE)
    assert t.policy_id == "urgent"
    assert t.clocks[K.RESOLUTION].due_at == MON + 240 * MINUTE  # 60 minutes used, 180 left
    assert t.clocks[K.FIRST_RESPONSE].status is ClockOutcome.BREACHED


def test_each_missed_update_is_its_own_breach_and_an_update_restarts_the_cycle() -> None:
    r = create_rules()
    t = started(r)
    rules.tick(t, r, now=MON + timedelta(hours=48))
    breaches = [n for n in notes(t) if n[0] is Announce.BREACHED and n[1] is K.PERIODIC_UPDATE]
    assert breaches == [(Announce.BREACHED, K.PERIODIC_UPDATE, 1), (Announce.BREACHED, K.PERIODIC_UPDATE, 2)]
    assert t.clocks[K.PERIODIC_UPDATE].cycle == 3
    assert [c.cycle for c in t.ended if c.kind is K.PERIODIC_UPDATE] == [1, 2]
    rules.answered(t, r, at=MON + timedelta(hours=50))
    assert t.clocks[K.PERIODIC_UPDATE].cycle == 4
    assert t.clocks[K.PERIODIC_UPDATE].due_at == MON + timedelta(hours=74)


def test_the_next_reply_clock_runs_from_the_oldest_unanswered_message() -> None:
    r = create_rules()
    t = started(r)
    rules.message_received(t, r, at=MON + 30 * MINUTE)
    rules.message_received(t, r, at=MON + 40 * MINUTE)
    assert t.clocks[K.NEXT_REPLY].due_at == MON + 45 * MINUTE
    rules.answered(t, r, at=MON + 44 * MINUTE)
    assert t.clocks[K.NEXT_REPLY].status is ClockOutcome.MET
    rules.message_received(t, r, at=MON + 50 * MINUTE)
    assert (t.clocks[K.NEXT_REPLY].cycle, t.clocks[K.NEXT_REPLY].due_at) == (2, MON + 65 * MINUTE)


def test_a_committed_plan_meets_the_plan_clock_and_sets_the_resolution_deadline() -> None:
    r = create_rules()
    t = started(r)
    rules.plan_committed(t, r, at=MON + 30 * MINUTE, resolve_by=MON + timedelta(hours=6))
    assert t.clocks[K.PLAN].status is ClockOutcome.MET
    assert t.clocks[K.RESOLUTION].due_at == MON + timedelta(hours=6)


def test_a_reopen_starts_a_new_resolution_cycle_and_cancels_the_follow_up() -> None:
    r = create_rules()
    t = started(r)
    rules.resolved(t, r, at=MON + 60 * MINUTE, first_response_at=None, self_service=False)
    rules.reopened(t, r, at=MON + 90 * MINUTE)
    assert (t.clocks[K.RESOLUTION].cycle, t.clocks[K.RESOLUTION].status) == (2, ClockOutcome.RUNNING)
    assert t.clocks[K.FOLLOW_UP].status is ClockOutcome.CANCELLED


def test_business_hours_carry_a_deadline_over_the_night_and_a_holiday_to_the_minute() -> None:
    hours = business_hours("UTC", {d: [(540, 1080)] for d in range(5)}, holidays=[datetime(2026, 3, 9).date()])
    targets = {**spec_targets(first_response_minutes=15), K.PLAN: Target(120, "office")}
    r = create_rules(create_policy(targets=targets), calendars={"office": hours})
    friday_five = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    t = started(r, created_at=friday_five)
    assert t.clocks[K.PLAN].due_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # Monday 9th is a holiday


# --- validation ------------------------------------------------------------------------------


def test_a_policy_is_validated_whole() -> None:
    bad = create_policy(
        targets={K.PLAN: Target(0), K.RESOLUTION: Target(60, "nowhere")},
        pauses={K.RESOLUTION: frozenset({"asleep"})},
        warning_share=1.5,
        escalation=(Step(2, 1.0, EscalationTarget.SUPERVISOR), Step(1, 0.5, EscalationTarget.GROUP)),
    )
    fields = {f for f, _ in validate(bad, calendars=set())}
    assert {
        "targets.plan.minutes",
        "targets.resolution.calendar",
        "pauses.resolution",
        "warning_share",
        "escalation",
        "escalation.1.group",
    } <= fields
    assert validate(create_policy(), calendars=set()) == []


def test_cycles_expose_elapsed_business_time() -> None:
    r = create_rules()
    t = started(r)
    c = t.clocks[K.RESOLUTION]
    assert domain.elapsed(c, MON + 30 * MINUTE, Calendar()) == 1800
