"""feedback's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_feedback.db import audit, messaging
from ticketloop_feedback.handlers import HANDLERS
from ticketloop_feedback.keys.models import CustomerKey  # noqa: F401  (registers the table)
from ticketloop_feedback.retention import scheduled as retention_jobs
from ticketloop_feedback.retention.service import CLASSES as RETENTION
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import scheduled
from ticketloop_feedback.surveys.endpoints import router as survey_router
from ticketloop_feedback.surveys.models import (  # noqa: F401  (registers the tables)
    Customer,
    ReopenedTicket,
    Survey,
    TicketDepartment,
)
from ticketloop_feedback.templates.endpoints import router as template_router
from ticketloop_feedback.templates.models import (  # noqa: F401  (registers the tables)
    SurveyTemplateRow,
    SurveyTemplateVersion,
)
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.retention import retention_router
from ticketloop_shared.runtime import ServiceSpec
from ticketloop_shared.scheduler import Scheduler

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: FeedbackSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build feedback; nothing connects until the app starts."""
    settings = settings or FeedbackSettings()
    spec = ServiceSpec(
        name="feedback",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        scheduler=Scheduler.of(scheduled.SCHEDULE, retention_jobs.SCHEDULE),
    )
    return create_service_app(
        spec,
        title="ticketloop feedback",
        description="Surveys customers (SPEC §3): a ticket's survey a while after its resolution, a new customer's "
        "a week after the first cooperation, a high-value customer's at each quarter end; one reminder; "
        "questions from templates admins edit. The link needs no login and is answered once; a low score "
        "opens a recovery ticket. Staff see a survey's status and answer, never its link; a delivery system "
        "fetches links to send.",
        routers=[survey_router, template_router, audit_router(audit), retention_router("feedback", RETENTION)],
        clock=clock,
    )
