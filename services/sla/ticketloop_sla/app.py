"""sla's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_shared.api import create_service_app
from ticketloop_shared.clock import Clock
from ticketloop_shared.runtime import Periodic, Runtime, ServiceSpec
from ticketloop_sla.clocks import scheduled
from ticketloop_sla.clocks.endpoints import router as clock_router
from ticketloop_sla.clocks.models import CustomerSegment, SlaClock, SlaTicket  # noqa: F401  (registers the tables)
from ticketloop_sla.db import messaging
from ticketloop_sla.handlers import HANDLERS
from ticketloop_sla.policies.endpoints import router as policy_router
from ticketloop_sla.policies.models import CalendarRow, HolidayRow, PolicyRow, RuleChange  # noqa: F401
from ticketloop_sla.settings import SlaSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def run_timer(runtime: Runtime) -> None:
    """The SLA timer, for as long as the service runs."""
    await scheduled.Timer(runtime).run()


def create_app(settings: SlaSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build sla; nothing connects until the app starts."""
    settings = settings or SlaSettings()
    spec = ServiceSpec(
        name="sla",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        periodic=[Periodic("recompute", settings.recompute_seconds, scheduled.recompute)],
        background={"timer": run_timer} if settings.timer_enabled else {},
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
