"""feedback's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_feedback.db import audit, messaging
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys.endpoints import router as survey_router
from ticketloop_feedback.surveys.handlers import HANDLERS
from ticketloop_feedback.surveys.models import Survey  # noqa: F401  (registers the table)
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.runtime import ServiceSpec

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
    )
    return create_service_app(
        spec,
        title="ticketloop feedback",
        description="Surveys customers after their problem is resolved; the link needs no login and is answered "
        "once. Staff see a survey's status and answer, never its link; a delivery system fetches links to send.",
        routers=[survey_router, audit_router(audit)],
        clock=clock,
    )
