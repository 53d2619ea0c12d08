"""Counter queues' pure rules: the lifecycle, numbers, the service rate and the wait limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ticketloop_intake.counters.domain import (
    EntryAction,
    EntryStatus,
    estimated_wait,
    local_day,
    next_status,
    pace,
    queue_number,
    service_interval,
    wait_exceeded,
    waited,
)
from ticketloop_shared.errors import InvalidTransition

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_only_a_waiting_number_can_be_served_or_cancelled() -> None:
    assert next_status(EntryStatus.WAITING, EntryAction.SERVE) is EntryStatus.SERVED
    assert next_status(EntryStatus.WAITING, EntryAction.CANCEL) is EntryStatus.CANCELLED
    for status in (EntryStatus.SERVED, EntryStatus.CANCELLED):
        for action in EntryAction:
            with pytest.raises(InvalidTransition) as caught:
                next_status(status, action)
            assert caught.value.status_code == 409
            assert caught.value.code == f"entry_{status.value}"
            assert caught.value.details["status"] == status.value


def test_numbers_have_the_prefix_and_at_least_three_digits() -> None:
    assert queue_number("A", 1) == "A001"
    assert queue_number("BR", 42) == "BR042"
    assert queue_number("A", 1234) == "A1234"


def test_the_day_is_the_counters_local_day() -> None:
    late_utc = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert local_day(late_utc, "UTC") == date(2026, 11, 23)
    assert local_day(late_utc, "Asia/Shanghai") == date(2026, 11, 24)


def test_the_service_interval_is_the_mean_gap_between_serves() -> None:
    serves = [T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=6)]
    assert service_interval(serves) == timedelta(minutes=3)
    assert service_interval(list(reversed(serves))) == timedelta(minutes=3)
    assert service_interval([T0]) is None
    assert service_interval([]) is None


def test_without_history_the_default_per_position_applies() -> None:
    default = timedelta(minutes=5)
    assert pace([], default=default).per_position == default
    assert not pace([T0], default=default).from_history
    measured = pace([T0, T0 + timedelta(minutes=2)], default=default)
    assert measured.per_position == timedelta(minutes=2) and measured.from_history
    # serves recorded in one instant never promise a zero wait
    assert pace([T0, T0], default=default).per_position == timedelta(seconds=1)


def test_the_estimate_is_one_interval_per_position() -> None:
    assert estimated_wait(1, timedelta(minutes=3)) == timedelta(minutes=3)
    assert estimated_wait(4, timedelta(minutes=3)) == timedelta(minutes=12)


def test_a_wait_is_exceeded_only_past_the_limit() -> None:
    limit = timedelta(minutes=20)
    assert not wait_exceeded(T0, until=T0 + limit, limit=limit)
    assert wait_exceeded(T0, until=T0 + limit + timedelta(seconds=1), limit=limit)
    assert waited(T0, until=T0 - timedelta(minutes=1)) == timedelta(0)
