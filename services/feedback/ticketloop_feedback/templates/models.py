"""ORM models: survey templates and every version of each (a survey is pinned to the version it
was sent with)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_feedback.db import Base


class SurveyTemplateRow(Base):
    """A template's current version (the one new surveys are sent with)."""

    __tablename__ = "survey_templates"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))


class SurveyTemplateVersion(Base):
    """Every version of a template, kept: a survey renders and checks answers against the version
    it was sent with, so an edit never breaks a survey already out."""

    __tablename__ = "survey_template_versions"

    template_id: Mapped[str] = mapped_column(ForeignKey("survey_templates.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
