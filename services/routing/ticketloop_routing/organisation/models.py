"""ORM models of the organisation."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_routing.db import Base


class Department(Base):
    """A team that owns some categories of problem."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_fallback: Mapped[bool] = mapped_column(default=False)


class Agent(Base):
    """A person in a department who can own tickets."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)


class CategoryRoute(Base):
    """Which department owns a category of problem."""

    __tablename__ = "category_routes"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
