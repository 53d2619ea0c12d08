"""Which of sla's clocks the read-back names as the ticket's deadlines, and which of sla's
publications counts (intake's `tickets/domain.py`; sla computes every instant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_intake.tickets.domain import SlaClocks, newest_per_ticket
from ticketloop_shared.events import ClockKind, ClockOutcome, ClockView, SlaClocksChangedData
from ticketloop_shared.ids import new_id

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(minutes=15)


def view(status: ClockOutcome, *, cycle: int = 1, stopped: bool = False, due: datetime | None = DUE) -> ClockView:
    return ClockView(
        clock=ClockKind.FIRST_RESPONSE,
        cycle=cycle,
        status=status,
        started_at=T0,
        due_at=None if status is ClockOutcome.PAUSED else due,
        target_seconds=900,
        stopped_at=T0 + timedelta(minutes=20) if stopped else None,
    )


def shown(*clocks: ClockView) -> SlaClocks:
    return SlaClocks(policy_id="standard", version=1, clocks=clocks)


@pytest.mark.parametrize(
    ("clock", "due"),
    [
        (view(ClockOutcome.RUNNING), DUE),
        (view(ClockOutcome.PAUSED), None),
        (view(ClockOutcome.MET, stopped=True), None),
        (view(ClockOutcome.CANCELLED, stopped=True), None),
        (view(ClockOutcome.BREACHED), DUE),  # still owed, overdue
        (view(ClockOutcome.BREACHED, stopped=True), None),  # kept, late: ended
    ],
)
def test_a_deadline_is_shown_while_its_clock_is_owed(clock: ClockView, due: datetime | None) -> None:
    assert shown(clock).due(ClockKind.FIRST_RESPONSE) == due


def test_the_current_cycle_counts_and_a_clock_sla_does_not_run_has_no_deadline() -> None:
    later = DUE + timedelta(hours=1)
    clocks = shown(view(ClockOutcome.MET, stopped=True), view(ClockOutcome.RUNNING, cycle=2, due=later))
    assert clocks.due(ClockKind.FIRST_RESPONSE) == later
    assert clocks.due(ClockKind.ACKNOWLEDGEMENT) is None


def test_only_each_tickets_newest_publication_counts() -> None:
    a, b = sorted([new_id(), new_id()])

    def published(ticket_id: object, version: int, policy: str = "standard") -> SlaClocksChangedData:
        return SlaClocksChangedData.model_validate(
            {
                "ticket_id": ticket_id,
                "version": version,
                "policy_id": policy,
                "policy_version": 1,
                "changed_at": T0,
                "clocks": [],
            }
        )

    run = [published(b, 2), published(a, 3), published(a, 1), published(b, 2, "replayed"), published(a, 2)]
    assert [(d.ticket_id, d.version, d.policy_id) for d in newest_per_ticket(run)] == [
        (a, 3, "standard"),
        (b, 2, "standard"),
    ]
