"""Alembic environment of routing (the shared runner does the work)."""

from ticketloop_routing.app import create_app  # noqa: F401  (imports every model)
from ticketloop_routing.db import Base
from ticketloop_shared.migrations import run_env

run_env(Base.metadata)
