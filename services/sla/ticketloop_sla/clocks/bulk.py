"""The documented bulk path: load many tickets' open clocks at once (a migration from another
helpdesk, or the benchmark's million clocks) without replaying their events.

Each ticket's clocks are computed by the same rules as on the event path (`rules.begin`:
its policy, calendars and targets), then written with PostgreSQL's COPY, a few thousand rows a
statement. No event is published for a loaded ticket: intake learns its deadlines at the next
change. Call it with sla stopped or idle; the timer picks the loaded clocks up when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import asyncpg

from ticketloop_sla.clocks import repository, rules
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_slarules.cycles import Cycle
from ticketloop_slarules.policies import Rules

# The tickets table as COPY fills it: what `repository` loads and saves, and the bookkeeping.
_TICKET_COLUMNS = ("ticket_id", *repository.TICKET_FIELDS, "open", "updated_at")
_CLOCK_COLUMNS = (
    "ticket_id",
    "kind",
    "cycle",
    "current",
    "ticket_number",
    "channel",
    "policy_id",
    "calendar_id",
    "status",
    "started_at",
    "target_seconds",
    "used_seconds",
    "resumed_at",
    "paused_at",
    "paused_seconds",
    "due_at",
    "stopped_at",
    "breached_at",
    "warned",
    "escalation_level",
    "next_at",
    "margin_seconds",
    "updated_at",
)


def prepare(tickets: Iterable[Ticket], r: Rules, *, keep: Callable[[Cycle], bool] = lambda c: True) -> list[Ticket]:
    """Start each ticket's clocks as its report would, keeping the cycles `keep` accepts."""
    out = []
    for t in tickets:
        rules.begin(t, r)
        t.clocks = {k: c for k, c in t.clocks.items() if keep(c)}
        if t.clocks:
            out.append(t)
    return out


async def load(conn: asyncpg.Connection, tickets: Sequence[Ticket], *, now: datetime) -> int:
    """COPY the tickets and their current cycles in; returns how many cycles were written."""
    ticket_rows = []
    clock_rows = []
    for t in tickets:
        ticket_rows.append(
            (
                t.ticket_id,
                t.number,
                t.channel,
                t.category,
                t.urgency,
                t.customer_id,
                t.live,
                t.origin,
                t.segment,
                t.need,
                t.status,
                t.department_id,
                t.agent_id,
                t.committed_resolution_at,
                t.placed_at,
                t.created_at,
                t.policy_id,
                t.rules_version,
                t.version,
                t.applied_until,
                True,
                now,
            )
        )
        for c in t.clocks.values():
            clock_rows.append(
                (
                    t.ticket_id,
                    c.kind.value,
                    c.cycle,
                    c.current,
                    t.number,
                    t.channel,
                    t.policy_id,
                    c.calendar,
                    c.status.value,
                    c.started_at,
                    c.target_seconds,
                    c.used_seconds,
                    c.resumed_at,
                    c.paused_at,
                    c.paused_seconds,
                    c.due_at,
                    c.stopped_at,
                    c.breached_at,
                    c.warned,
                    c.escalation_level,
                    c.next_at,
                    c.margin_seconds,
                    now,
                )
            )
    async with conn.transaction():
        await conn.copy_records_to_table("tickets", records=ticket_rows, columns=list(_TICKET_COLUMNS))
        await conn.copy_records_to_table("clocks", records=clock_rows, columns=list(_CLOCK_COLUMNS))
    return len(clock_rows)
