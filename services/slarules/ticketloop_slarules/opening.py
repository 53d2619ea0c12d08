"""The clocks a ticket starts at its report, and how one cycle of a metric opens: the one code
sla runs when it first hears of a ticket and intake runs when it accepts it, so the deadlines in
the 201 read-back are those sla then publishes."""

from __future__ import annotations

from datetime import datetime

from ticketloop_shared.events import ClockKind
from ticketloop_slarules import cycles
from ticketloop_slarules.cycles import Cycle
from ticketloop_slarules.policies import Facts, Policy, Rules, choose

AT_REPORT = (
    ClockKind.ACKNOWLEDGEMENT,
    ClockKind.FIRST_RESPONSE,
    ClockKind.LIVE_ACCESS,
    ClockKind.PLAN,
    ClockKind.RESOLUTION,
    ClockKind.PERIODIC_UPDATE,
)
# Channels whose customer always waits live (a call); other channels say so per ticket.
LIVE_CHANNELS = frozenset({"phone"})


def is_live(channel: str, *, live_session: bool) -> bool:
    """The customer waits in a live session (phone always does): the live-access clock runs."""
    return live_session or channel in LIVE_CHANNELS


def runs_at_report(kind: ClockKind, *, live: bool) -> bool:
    """Whether `kind` starts at the report (live access only for a customer waiting live)."""
    return kind in AT_REPORT and (kind is not ClockKind.LIVE_ACCESS or live)


def open_cycle(
    kind: ClockKind,
    *,
    at: datetime,
    policy: Policy,
    rules: Rules,
    status: str,
    cycle: int = 1,
    target_seconds: float | None = None,
) -> Cycle | None:
    """A new cycle of `kind` from `at` under `policy` (None when the policy does not measure it):
    counted in the target's calendar, paused from the start when `status` pauses it.
    `target_seconds` overrides the policy's allowance (a committed resolution time)."""
    target = policy.target(kind)
    if target is None:
        return None
    return cycles.start(
        kind,
        at=at,
        target_seconds=target.seconds if target_seconds is None else target_seconds,
        calendar=target.calendar,
        policy=policy,
        cal=rules.calendar(target.calendar),
        paused=policy.pauses_in(kind, status),
        cycle=cycle,
    )


def at_report(
    rules: Rules, facts: Facts, *, created_at: datetime, status: str, live: bool
) -> tuple[Policy, dict[ClockKind, Cycle]]:
    """The policy a new ticket is measured on and the clocks it starts at its report."""
    policy = choose(rules.policies, facts)
    started: dict[ClockKind, Cycle] = {}
    for kind in AT_REPORT:
        if not runs_at_report(kind, live=live):
            continue
        c = open_cycle(kind, at=created_at, policy=policy, rules=rules, status=status)
        if c is not None:
            started[kind] = c
    return policy, started
