"""ORM model of the baselines admins set per goal (the rest of a goal is code and settings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class GoalBaseline(Base):
    """The baseline period an admin chose for one goal, overriding the setting and the default
    (the first complete weeks of data); versioned for `If-Match`."""

    __tablename__ = "goal_baselines"

    goal: Mapped[str] = mapped_column(String(64), primary_key=True)
    # `<first period>..<last period>`, both included: `2026-W45..2026-W48` or `2026-09..2026-10`.
    period: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))
