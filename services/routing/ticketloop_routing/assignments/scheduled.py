"""Routing's time-driven work, each run at the runtime's (injectable) now in its own transaction."""

from __future__ import annotations

from ticketloop_routing.assignments import service
from ticketloop_shared.runtime import Runtime


async def reassign_away(runtime: Runtime) -> int:
    """Move the untouched tickets of agents away for too long (each ticket isolated); how many moved."""
    async with runtime.unit_of_work() as uow:
        return await service.reassign_from_absent(uow)


async def fill_queues(runtime: Runtime) -> int:
    """Give waiting tickets to agents with room (each department isolated): the safety net for
    capacity freed on another replica while a ticket was being queued here; how many were given."""
    async with runtime.unit_of_work() as uow:
        return await service.fill_queues(uow)
