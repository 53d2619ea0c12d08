"""ORM models of the organisation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_routing.db import Base


class Department(Base):
    """A team that owns some categories of problem, and how it hands out its tickets."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_fallback: Mapped[bool] = mapped_column(default=False)
    strategy: Mapped[str] = mapped_column(String(20), server_default="least_loaded")
    default_capacity: Mapped[int | None] = mapped_column()
    # The staff id SLA breaches of this department's tickets are escalated to.
    supervisor: Mapped[str | None] = mapped_column(String(100))


class Agent(Base):
    """A person in a department who can own tickets."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int | None] = mapped_column()
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")


class CategoryRoute(Base):
    """Which department owns a category of problem."""

    __tablename__ = "category_routes"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))


class OrganisationVersion(Base):
    """One row: the version of the stored organisation, changed by every replacement, so each
    process can keep the organisation in memory and notice in the same query it reads agent
    state with that it must reload."""

    __tablename__ = "organisation_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[uuid.UUID] = mapped_column()
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
