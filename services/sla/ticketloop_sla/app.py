"""sla's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_shared.api import create_service_app
from ticketloop_shared.clock import Clock
from ticketloop_shared.runtime import ServiceSpec
from ticketloop_shared.scheduler import Scheduler
from ticketloop_sla.clocks import scheduled
from ticketloop_sla.clocks.endpoints import router as clock_router
from ticketloop_sla.clocks.models import CustomerSegment, SlaClock, SlaTicket  # noqa: F401  (registers the tables)
from ticketloop_sla.db import messaging
from ticketloop_sla.handlers import HANDLERS
from ticketloop_sla.policies import service as policies
from ticketloop_sla.policies.endpoints import router as policy_router
from ticketloop_sla.policies.models import CalendarRow, HolidayRow, PolicyRow, RuleChange  # noqa: F401
from ticketloop_sla.settings import SlaSettings
from ticketloop_sla.unit import SlaRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


async def publish_rules(runtime: SlaRuntime) -> None:
    """At start, publish every policy and calendar whole (see `policies.service.publish_all`)."""
    async with runtime.unit_of_work() as uow:
        await policies.publish_all(uow)


def create_app(settings: SlaSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build sla; nothing connects until the app starts."""
    settings = settings or SlaSettings()
    spec = ServiceSpec(
        name="sla",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        scheduler=Scheduler.of(scheduled.SCHEDULE),
        on_start=publish_rules,
    )
    return create_service_app(
        spec,
        title="ticketloop sla",
        description=(
            "Measures every promise of SPEC §2 as a clock in business time (acknowledgement, first "
            "response, live access, plan, resolution, periodic update, next reply, follow-up) under "
            "ordered policies and business calendars; warns, escalates and announces met and breached "
            "deadlines, each once, within a second of the due instant."
        ),
        routers=[clock_router, policy_router],
        clock=clock,
    )
