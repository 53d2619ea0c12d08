"""Alembic environment of feedback (the shared runner does the work)."""

from ticketloop_feedback.app import create_app  # noqa: F401  (imports every model)
from ticketloop_feedback.db import Base
from ticketloop_shared.migrations import run_env

run_env(Base.metadata)
