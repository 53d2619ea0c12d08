"""retrospective's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_retrospective.care import models as care_models  # noqa: F401  (registers the tables)
from ticketloop_retrospective.care import scheduled as care_jobs
from ticketloop_retrospective.care.endpoints import router as care_router
from ticketloop_retrospective.customers import models as customer_models  # noqa: F401  (registers the tables)
from ticketloop_retrospective.customers import scheduled as customer_jobs
from ticketloop_retrospective.customers.endpoints import router as customer_router
from ticketloop_retrospective.customers.service import CareDirectory
from ticketloop_retrospective.dashboard.endpoints import router as dashboard_router
from ticketloop_retrospective.db import audit, messaging
from ticketloop_retrospective.facts.models import TicketFact  # noqa: F401  (registers on the metadata)
from ticketloop_retrospective.goals import models as goal_models  # noqa: F401  (registers the tables)
from ticketloop_retrospective.goals.endpoints import report_headline
from ticketloop_retrospective.goals.endpoints import router as goals_router
from ticketloop_retrospective.handlers import HANDLERS
from ticketloop_retrospective.orders.models import OrderFact  # noqa: F401  (registers the table)
from ticketloop_retrospective.rectification import scheduled as review_jobs
from ticketloop_retrospective.rectification.endpoints import router as rectification_router
from ticketloop_retrospective.rectification.models import RectificationItem  # noqa: F401
from ticketloop_retrospective.reports.endpoints import router as report_router
from ticketloop_retrospective.retention import scheduled as retention_jobs
from ticketloop_retrospective.retention.service import CLASSES as RETENTION
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.retention import retention_router
from ticketloop_shared.runtime import ServiceSpec
from ticketloop_shared.scheduler import Scheduler

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: RetrospectiveSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build retrospective; nothing connects until the app starts."""
    settings = settings or RetrospectiveSettings()
    spec = ServiceSpec(
        name="retrospective",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        scheduler=Scheduler.of(
            customer_jobs.SCHEDULE,
            review_jobs.SCHEDULE,
            care_jobs.schedule(customers=CareDirectory()),
            retention_jobs.SCHEDULE,
        ),
    )
    app = create_service_app(
        spec,
        title="ticketloop retrospective",
        description=(
            "Every loop event projected into read models: weekly and monthly reviews for staff, the metric "
            "dictionary, drill-down to tickets, the headline goals against their baseline periods, rectification "
            "items opened by hot categories; customers, their "
            "segments (announced with customer.segment_changed) and the segment goals; care cadences and "
            "anticipation rules that make care contacts due (care.task_due). Staff read the reviews as HTML "
            "with charts at `/dashboard`. Every change staff make here is in the audit log."
        ),
        routers=[
            report_router,
            goals_router,
            rectification_router,
            customer_router,
            care_router,
            dashboard_router,
            audit_router(audit),
            retention_router("retrospective", RETENTION),
        ],
        clock=clock,
    )
    # The reports carry the goals block without importing goals (goals read reports' figures).
    app.state.headline = report_headline
    return app
