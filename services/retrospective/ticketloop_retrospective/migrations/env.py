"""Alembic environment of retrospective (the shared runner does the work)."""

from ticketloop_retrospective.app import create_app  # noqa: F401  (imports every model)
from ticketloop_retrospective.db import Base
from ticketloop_shared.migrations import run_env

run_env(Base.metadata)
