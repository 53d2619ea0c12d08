"""The clock lifecycle on its own: which stop or deadline makes a clock met or breached, and
when there is something to announce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_shared.errors import InvalidTransition
from ticketloop_shared.events import ClockOutcome, EventType
from ticketloop_sla.clocks.domain import Change, ClockState, expire, stop

DUE = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def create_state(
    status: ClockOutcome = ClockOutcome.RUNNING,
    *,
    stopped_at: datetime | None = None,
    breached_at: datetime | None = None,
) -> ClockState:
    """A clock due at DUE."""
    return ClockState(status=status, due_at=DUE, stopped_at=stopped_at, breached_at=breached_at)


@pytest.mark.parametrize("at", [DUE - timedelta(minutes=14), DUE])
def test_stop_by_the_deadline_is_met_and_announced(at: datetime) -> None:
    assert stop(create_state(), at=at) == Change(ClockOutcome.MET, at, None, EventType.SLA_MET)


def test_stop_after_the_deadline_before_any_sweep_is_a_breach_at_the_deadline() -> None:
    at = DUE + SECOND
    assert stop(create_state(), at=at) == Change(ClockOutcome.BREACHED, at, DUE, EventType.SLA_BREACHED)


@pytest.mark.parametrize("at", [DUE - SECOND, DUE + SECOND])
def test_stop_of_a_breached_clock_records_the_time_and_announces_nothing(at: datetime) -> None:
    state = create_state(ClockOutcome.BREACHED, breached_at=DUE)
    assert stop(state, at=at) == Change(ClockOutcome.BREACHED, at, DUE, None)


@pytest.mark.parametrize(
    "state",
    [
        create_state(ClockOutcome.MET, stopped_at=DUE - SECOND),
        create_state(ClockOutcome.BREACHED, stopped_at=DUE + SECOND, breached_at=DUE),
    ],
)
def test_a_stopped_clock_ignores_later_stops(state: ClockState) -> None:
    assert stop(state, at=DUE - timedelta(minutes=5)) is None


def test_deadline_is_not_reached_a_second_early() -> None:
    assert expire(create_state(), now=DUE - SECOND) is None


@pytest.mark.parametrize("now", [DUE, DUE + timedelta(hours=3)])
def test_deadline_breaches_a_running_clock_at_its_due_time(now: datetime) -> None:
    assert expire(create_state(), now=now) == Change(ClockOutcome.BREACHED, None, DUE, EventType.SLA_BREACHED)


@pytest.mark.parametrize("status", [ClockOutcome.MET, ClockOutcome.BREACHED])
def test_deadline_leaves_ended_clocks_alone(status: ClockOutcome) -> None:
    assert expire(create_state(status, stopped_at=DUE - SECOND), now=DUE + SECOND) is None


def test_a_met_clock_without_a_stop_time_is_an_invalid_state() -> None:
    with pytest.raises(InvalidTransition) as caught:
        stop(create_state(ClockOutcome.MET), at=DUE)
    assert caught.value.code == "clock_met"
