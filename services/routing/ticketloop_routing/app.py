"""routing's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_routing.access.endpoints import router as access_router
from ticketloop_routing.assignments import scheduled
from ticketloop_routing.assignments.endpoints import organisation_router as organisation_change_router
from ticketloop_routing.assignments.endpoints import router as assignment_router
from ticketloop_routing.assignments.models import Assignment  # noqa: F401  (registers the table)
from ticketloop_routing.customers.endpoints import router as customer_router
from ticketloop_routing.customers.models import AccountManager  # noqa: F401  (registers the table)
from ticketloop_routing.db import audit, messaging
from ticketloop_routing.handlers import HANDLERS
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.endpoints import router as organisation_router
from ticketloop_routing.retention import scheduled as retention_jobs
from ticketloop_routing.retention.service import CLASSES as RETENTION
from ticketloop_routing.settings import RoutingSettings
from ticketloop_routing.unit import RoutingRuntime
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.db import transaction
from ticketloop_shared.retention import retention_router
from ticketloop_shared.runtime import ServiceSpec
from ticketloop_shared.scheduler import Scheduler

MIGRATIONS = Path(__file__).parent / "migrations"


async def load_organisation(runtime: RoutingRuntime) -> None:
    """An empty database gets the organisation file's organisation."""
    async with transaction(runtime.sessions) as session:
        await organisation.load_if_empty(session, runtime.settings.organisation_file, at=runtime.clock.now())


def create_app(settings: RoutingSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build routing; nothing connects until the app starts."""
    settings = settings or RoutingSettings()

    spec = ServiceSpec(
        name="routing",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        scheduler=Scheduler.of(scheduled.SCHEDULE, retention_jobs.SCHEDULE),
        on_start=load_organisation,
    )
    return create_service_app(
        spec,
        title="ticketloop routing",
        description="Departments, agents and the category map; routes every ticket to an owner (strategy, "
        "skills, capacity, presence, account managers) or its department's priority queue, and explains "
        "each decision; revokes staff tokens and keeps the audit log of those acts.",
        routers=[
            organisation_router,
            organisation_change_router,
            assignment_router,
            customer_router,
            access_router,
            audit_router(audit),
            retention_router("routing", RETENTION),
        ],
        clock=clock,
    )
