"""Alembic environment of sla (the shared runner does the work)."""

from ticketloop_shared.migrations import run_env
from ticketloop_sla.app import create_app  # noqa: F401  (imports every model)
from ticketloop_sla.db import Base

run_env(Base.metadata)
