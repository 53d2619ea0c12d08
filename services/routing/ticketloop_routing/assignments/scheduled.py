"""Routing's time-driven work, each run at the runtime's (injectable) now in its own transaction:
the away reassignment, due when an away agent's grace runs out, and the queue sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketloop_routing.assignments import service
from ticketloop_routing.settings import RoutingSettings
from ticketloop_routing.unit import RoutingRuntime
from ticketloop_shared.scheduler import Batch, Scheduler

SCHEDULE = Scheduler[RoutingSettings]()


async def next_away_reassignment(runtime: RoutingRuntime) -> datetime | None:
    """When the next away agent's untouched tickets fall due: away since, plus the grace."""
    async with runtime.sessions() as session:
        grace = timedelta(minutes=runtime.settings.away_reassign_minutes)
        return await service.next_away_reassignment(session, grace=grace)


@SCHEDULE.due(
    name="away-reassign",
    next_due=next_away_reassignment,
    max_idle=lambda s: s.away_sweep_seconds,
    # A due ticket nobody could move (no department for it, or failing: logged) stays due: look
    # again after the longest idle rather than spin on it.
    idle_when_stuck=lambda s: s.away_sweep_seconds,
)
async def reassign_away(runtime: RoutingRuntime) -> Batch:
    """Move the untouched tickets of agents away for too long (each ticket isolated)."""
    async with runtime.unit_of_work() as uow:
        moved, full = await service.reassign_from_absent(uow)
    return Batch(moved, full)


@SCHEDULE.every(name="queue-fill", seconds=lambda s: s.queue_sweep_seconds)
async def fill_queues(runtime: RoutingRuntime) -> int:
    """Give waiting tickets to agents with room (each department isolated): the safety net for
    capacity freed on another replica while a ticket was being queued here; how many were given.
    Then apply events parked for tickets another transaction routed meanwhile (same net)."""
    async with runtime.unit_of_work() as uow:
        given = await service.fill_queues(uow)
    async with runtime.unit_of_work() as uow:
        await service.replay_parked_of_known(uow)
    return given
