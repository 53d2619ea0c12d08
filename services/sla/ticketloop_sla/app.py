"""sla's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_shared.api import create_service_app
from ticketloop_shared.clock import Clock
from ticketloop_shared.runtime import Periodic, Runtime, ServiceSpec
from ticketloop_sla.clocks import service
from ticketloop_sla.clocks.endpoints import router as clock_router
from ticketloop_sla.clocks.handlers import HANDLERS
from ticketloop_sla.clocks.models import SlaClock  # noqa: F401  (registers the table on the metadata)
from ticketloop_sla.db import messaging
from ticketloop_sla.settings import SlaSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def check_breaches(runtime: Runtime) -> int:
    """One breach sweep at the runtime's (injectable) now, in its own transaction."""
    async with runtime.unit_of_work() as uow:
        return await service.check_breaches(uow)


def create_app(settings: SlaSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build sla; nothing connects until the app starts."""
    settings = settings or SlaSettings()
    spec = ServiceSpec(
        name="sla",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        periodic=[Periodic("breach-check", settings.breach_check_seconds, check_breaches)],
    )
    return create_service_app(
        spec,
        title="ticketloop sla",
        description="Runs each ticket's first-response and resolution clocks; announces met and breached deadlines.",
        routers=[clock_router],
        clock=clock,
    )
