"""intake's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_intake.channels import service as channel_service
from ticketloop_intake.channels.endpoints import router as channel_router
from ticketloop_intake.channels.models import ChannelClient  # noqa: F401  (registers the table)
from ticketloop_intake.db import messaging
from ticketloop_intake.idempotency.models import IdempotencyRecord  # noqa: F401  (registers the table)
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets.endpoints import router as ticket_router
from ticketloop_intake.tickets.handlers import handlers
from ticketloop_intake.tickets.models import Ticket  # noqa: F401  (registers the tables)
from ticketloop_shared.api import create_service_app
from ticketloop_shared.clock import Clock
from ticketloop_shared.db import unit_of_work
from ticketloop_shared.runtime import Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build intake; nothing connects until the app starts."""
    settings = settings or IntakeSettings()

    async def on_start(runtime: Runtime) -> None:
        if settings.dev_channel_key is not None:
            async with unit_of_work(runtime.sessions) as session:
                await channel_service.seed_development_client(session, settings.dev_channel_key.get_secret_value())

    spec = ServiceSpec(
        name="intake",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=handlers,
        on_start=on_start,
    )
    return create_service_app(
        spec,
        title="ticketloop intake",
        description="Channels report customer problems here; agents reply and resolve.",
        routers=[ticket_router, channel_router],
        clock=clock,
    )
