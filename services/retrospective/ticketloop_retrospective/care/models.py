"""ORM models of care: each customer's contact schedule, the tasks made due, their completions
and the anticipation rules admins set."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class CareSchedule(Base):
    """A customer's cadence: the segment it follows and the next contact due (none: the segment
    has no cadence). Re-planned whenever the segment changes."""

    __tablename__ = "care_schedules"
    __table_args__ = (
        Index("ix_care_schedules_next_due_at", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
    )

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(32))
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CareTask(Base):
    """One care contact made due, announced once with `care.task_due` in the transaction that
    created the row. The unique keys make a second announcement impossible: a cadence contact
    is unique per customer, cadence and due instant; an anticipation rule fires once per
    customer, or, anchored on orders, once per order (`order_ref`)."""

    __tablename__ = "care_tasks"
    __table_args__ = (
        Index("uq_care_tasks_cadence", "customer_id", "rule", "due_at", unique=True),
        Index(
            "uq_care_tasks_anticipation",
            "customer_id",
            "rule",
            unique=True,
            postgresql_where=text("kind = 'anticipation' AND order_ref IS NULL AND previous_task_id IS NULL"),
        ),
        Index("uq_care_tasks_order", "rule", "order_ref", unique=True, postgresql_where=text("order_ref IS NOT NULL")),
        Index("ix_care_tasks_customer_id", "customer_id", "due_at"),
        # A task has at most one successor (its retry after no answer, or its follow-up), however
        # often its resolution is told.
        Index("uq_care_tasks_previous", "previous_task_id", unique=True),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(String(100))
    segment: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(40))
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A task of a rule anchored on orders: the order it follows (`<channel client>:<order id>`).
    order_ref: Mapped[str | None] = mapped_column(String(200))
    # 1 for the contact the cadence or a rule made due; n + 1 for the retry after attempt n went
    # unanswered (a follow-up starts again at 1). `previous_task_id`: the task it follows.
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    previous_task_id: Mapped[uuid.UUID | None] = mapped_column()


class CareCompletion(Base):
    """A care ticket resolved (`ticket.resolved`, origin `care`, origin_id = the task): the contact
    was made. Kept apart from the task so it may be learnt in any order (a replayed or rebuilt
    read model may hear of the resolution before it re-learns the task)."""

    __tablename__ = "care_completions"

    task_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column()
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # How the contact went (`CareOutcome`), or `unreachable` when the last allowed attempt went
    # unanswered; None for a resolution told without one (before outcomes existed).
    outcome: Mapped[str | None] = mapped_column(String(20))


class CareRule(Base):
    """An anticipation rule: `offset_days` after the customer's anchor, a care contact is due
    (for customers in `segments`, or all when empty), once per customer; only moments from
    `active_from` (the rule's creation) on fire."""

    __tablename__ = "care_rules"

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    anchor: Mapped[str] = mapped_column(String(20))
    offset_days: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(40))
    segments: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    active_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Every moment up to this instant has been handled (the timer's watermark; it looks back a
    # little behind it for facts that arrive late).
    fired_through: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(100))
    # Bumped by every replace: the rule's `ETag`, named by `If-Match` when replacing or deleting it.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
