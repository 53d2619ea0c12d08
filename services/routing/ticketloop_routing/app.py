"""routing's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_routing.access.endpoints import router as access_router
from ticketloop_routing.assignments import scheduled
from ticketloop_routing.assignments.endpoints import router as assignment_router
from ticketloop_routing.assignments.models import Assignment  # noqa: F401  (registers the table)
from ticketloop_routing.customers.endpoints import router as customer_router
from ticketloop_routing.customers.models import AccountManager  # noqa: F401  (registers the table)
from ticketloop_routing.db import audit, messaging
from ticketloop_routing.handlers import HANDLERS
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.endpoints import router as organisation_router
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.db import transaction
from ticketloop_shared.runtime import Periodic, Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: RoutingSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build routing; nothing connects until the app starts."""
    settings = settings or RoutingSettings()

    async def on_start(runtime: Runtime) -> None:
        async with transaction(runtime.sessions) as session:
            await organisation.load_if_empty(session, settings.organisation_file, at=runtime.clock.now())

    spec = ServiceSpec(
        name="routing",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        periodic=[
            Periodic("away-reassign", settings.away_sweep_seconds, scheduled.reassign_away),
            Periodic("queue-fill", settings.queue_sweep_seconds, scheduled.fill_queues),
        ],
        on_start=on_start,
    )
    return create_service_app(
        spec,
        title="ticketloop routing",
        description="Departments, agents and the category map; routes every ticket to an owner (strategy, "
        "skills, capacity, presence, account managers) or its department's priority queue, and explains "
        "each decision; revokes staff tokens and keeps the audit log of those acts.",
        routers=[organisation_router, assignment_router, customer_router, access_router, audit_router(audit)],
        clock=clock,
    )
