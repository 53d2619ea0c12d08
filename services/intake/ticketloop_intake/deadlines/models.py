"""ORM models of intake's copy of sla's rules (a read model of `sla.policy_changed` and
`sla.calendar_changed`; sla owns them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base


class SlaPolicyCopy(Base):
    """One policy as sla last published it (`definition`: the publication's payload); a deleted
    one keeps its row, so an older publication arriving late cannot bring it back."""

    __tablename__ = "sla_policy_copies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)


class SlaCalendarCopy(Base):
    """One business calendar as sla last published it."""

    __tablename__ = "sla_calendar_copies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    rules_version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
