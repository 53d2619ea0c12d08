"""ORM models of SLA policies, business calendars and their change history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Float, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_sla.db import Base


class PolicyRow(Base):
    """One SLA policy; `conditions`, `targets`, `pauses` and `escalation` hold its rules as JSON."""

    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    pauses: Mapped[dict[str, Any]] = mapped_column(JSONB)
    warning_share: Mapped[float] = mapped_column(Float)
    escalation: Mapped[list[Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CalendarRow(Base):
    """One business calendar: its zone and weekly working intervals (`week`: 7 lists of [start, end] minutes)."""

    __tablename__ = "calendars"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    week: Mapped[list[Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HolidayRow(Base):
    """A local date a calendar is closed all day."""

    __tablename__ = "holidays"

    calendar_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calendars.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class RuleChange(Base):
    """Every change of a policy or calendar, with the whole object after it (null when deleted):
    the versioned history, and the counter each open ticket's clocks are compared with."""

    __tablename__ = "rule_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(16))  # policy | calendar
    subject_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
