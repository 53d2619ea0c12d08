"""feedback's retention schedule (settings `TICKETLOOP_FEEDBACK_RETAIN_*`, 0 = forever).

- `survey_texts`: what a customer wrote in an answer (comments, suggestions, the NPS reason) is
  erased in place `retain_survey_texts_days` after answering; the scores and the survey stay.
- `audit_entries`: audit log entries are deleted `retain_audit_days` after they were written.

Survey link digests go with their survey's lifetime (they open nothing once it is closed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.db import audit
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service as surveys
from ticketloop_shared.retention import DataClass, Found, audit_class


async def _texts(session: AsyncSession, cutoff: datetime) -> Found:
    return Found(*await surveys.texts_due(session, cutoff))


async def _erase_texts(session: AsyncSession, cutoff: datetime, limit: int, now: datetime) -> int:
    return await surveys.erase_old_texts(session, cutoff, limit=limit)


CLASSES: list[DataClass[FeedbackSettings]] = [
    DataClass(
        name="survey_texts",
        action="erase",
        setting="TICKETLOOP_FEEDBACK_RETAIN_SURVEY_TEXTS_DAYS",
        days=lambda s: s.retain_survey_texts_days,
        find=_texts,
        apply=_erase_texts,
        description="survey answers' free texts: comments, suggestions, NPS reasons (by answering date)",
    ),
    audit_class(audit, days=lambda s: s.retain_audit_days, setting="TICKETLOOP_FEEDBACK_RETAIN_AUDIT_DAYS"),
]
