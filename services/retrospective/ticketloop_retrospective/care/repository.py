"""All SQL about care: schedules, tasks, completions and anticipation rules."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    String,
    Table,
    bindparam,
    cast,
    column,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.care.models import CareCompletion, CareRule, CareSchedule, CareTask

_PLAN_ROWS = (
    func.unnest(
        cast(bindparam("customer_id"), ARRAY(String())),
        cast(bindparam("segment"), ARRAY(String())),
        cast(bindparam("planned_at"), ARRAY(DateTime(timezone=True))),
        cast(bindparam("next_due_at"), ARRAY(DateTime(timezone=True))),
    )
    .table_valued(
        column("customer_id", String()),
        column("segment", String()),
        column("planned_at", DateTime(timezone=True)),
        column("next_due_at", DateTime(timezone=True)),
    )
    .render_derived(name="v")
)
_SCHEDULES: Table = typing.cast(Table, CareSchedule.__table__)
_plan_insert = insert(_SCHEDULES).from_select(
    ["customer_id", "segment", "planned_at", "next_due_at"],
    select(_PLAN_ROWS.c.customer_id, _PLAN_ROWS.c.segment, _PLAN_ROWS.c.planned_at, _PLAN_ROWS.c.next_due_at),
)
_PLAN = _plan_insert.on_conflict_do_update(
    index_elements=[_SCHEDULES.c.customer_id],
    set_={
        "segment": _plan_insert.excluded.segment,
        "planned_at": _plan_insert.excluded.planned_at,
        "next_due_at": _plan_insert.excluded.next_due_at,
    },
)


@dataclass(frozen=True)
class Plan:
    """A customer's new schedule: the segment's cadence, from `planned_at`."""

    customer_id: str
    segment: str
    planned_at: datetime
    next_due_at: datetime | None


async def plan(session: AsyncSession, plans: Sequence[Plan]) -> None:
    """Replace customers' schedules (each customer once), in one statement."""
    if plans:
        fields = ("customer_id", "segment", "planned_at", "next_due_at")
        await session.execute(_PLAN, {name: [getattr(p, name) for p in plans] for name in fields})


async def schedule(session: AsyncSession, customer_id: str) -> CareSchedule | None:
    """The customer's schedule, if any."""
    return await session.get(CareSchedule, customer_id, populate_existing=True)


async def due_schedules(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[CareSchedule]:
    """Schedules with a contact due by `now`, earliest first, locked; rows another replica (or a
    consumer re-planning that customer) holds are skipped."""
    stmt = (
        select(CareSchedule)
        .where(CareSchedule.next_due_at <= now)
        .order_by(CareSchedule.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt.execution_options(populate_existing=True))).all()


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest contact any schedule has due (read through the partial index)."""
    return await session.scalar(select(func.min(CareSchedule.next_due_at)))


async def set_next_due(session: AsyncSession, customer_id: str, next_due_at: datetime | None) -> None:
    """Move the customer's schedule to its next contact."""
    await session.execute(
        update(CareSchedule).where(CareSchedule.customer_id == customer_id).values(next_due_at=next_due_at)
    )


async def add_task(
    session: AsyncSession,
    *,
    task_id: uuid.UUID,
    customer_id: str,
    kind: str,
    rule: str,
    segment: str,
    category: str,
    preferred_channel: str | None,
    due_at: datetime,
    created_at: datetime,
    order_ref: str | None = None,
    attempt: int = 1,
    previous_task_id: uuid.UUID | None = None,
) -> bool:
    """Create the task unless its unique key says it already exists; True when created (then,
    and only then, it is announced)."""
    stmt = (
        insert(CareTask)
        .values(
            task_id=task_id,
            customer_id=customer_id,
            kind=kind,
            rule=rule,
            segment=segment,
            category=category,
            preferred_channel=preferred_channel,
            due_at=due_at,
            created_at=created_at,
            order_ref=order_ref,
            attempt=attempt,
            previous_task_id=previous_task_id,
        )
        .on_conflict_do_nothing()
        .returning(CareTask.task_id)
    )
    return (await session.scalar(stmt)) is not None


async def record_completion(
    session: AsyncSession, *, task_id: uuid.UUID, ticket_id: uuid.UUID, completed_at: datetime, outcome: str | None
) -> bool:
    """The task's contact was made (the earliest resolution of its care ticket counts; the first
    outcome told stands). True the first time only: what follows from it happens once."""
    stmt = insert(CareCompletion).values(
        task_id=task_id, ticket_id=ticket_id, completed_at=completed_at, outcome=outcome
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[CareCompletion.task_id],
        set_={
            "completed_at": func.least(CareCompletion.completed_at, stmt.excluded.completed_at),
            "outcome": func.coalesce(CareCompletion.outcome, stmt.excluded.outcome),
        },
    ).returning(literal_column("xmax = 0", Boolean))  # true for a row inserted, false for one updated
    return bool(await session.scalar(upsert))


@dataclass(frozen=True)
class TaskView:
    """A care task with its completion, if made."""

    task: CareTask
    completed_at: datetime | None
    ticket_id: uuid.UUID | None
    outcome: str | None = None


async def tasks(session: AsyncSession, customer_id: str, *, limit: int) -> list[TaskView]:
    """The customer's care tasks, newest due first, with their completions."""
    rows = await session.execute(
        select(CareTask, CareCompletion.completed_at, CareCompletion.ticket_id, CareCompletion.outcome)
        .outerjoin(CareCompletion, CareCompletion.task_id == CareTask.task_id)
        .where(CareTask.customer_id == customer_id)
        .order_by(CareTask.due_at.desc(), CareTask.task_id.desc())
        .limit(limit)
    )
    return [TaskView(task=r[0], completed_at=r[1], ticket_id=r[2], outcome=r[3]) for r in rows]


async def task(session: AsyncSession, task_id: uuid.UUID) -> TaskView | None:
    """One task with its completion."""
    row = (
        await session.execute(
            select(CareTask, CareCompletion.completed_at, CareCompletion.ticket_id, CareCompletion.outcome)
            .outerjoin(CareCompletion, CareCompletion.task_id == CareTask.task_id)
            .where(CareTask.task_id == task_id)
        )
    ).first()
    return None if row is None else TaskView(task=row[0], completed_at=row[1], ticket_id=row[2], outcome=row[3])


async def rule(session: AsyncSession, rule_id: str, *, for_update: bool = False) -> CareRule | None:
    """One anticipation rule; `for_update` holds it until the transaction ends (a change checks
    its version and writes it with no other change in between)."""
    if not for_update:
        return await session.get(CareRule, rule_id)
    stmt = select(CareRule).where(CareRule.rule_id == rule_id).with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def rules(session: AsyncSession) -> Sequence[CareRule]:
    """Every anticipation rule, by id."""
    return (await session.scalars(select(CareRule).order_by(CareRule.rule_id))).all()


async def lock_rules(session: AsyncSession) -> Sequence[CareRule]:
    """The anticipation rules no other replica is firing right now, locked."""
    stmt = select(CareRule).order_by(CareRule.rule_id).with_for_update(skip_locked=True)
    return (await session.scalars(stmt.execution_options(populate_existing=True))).all()


async def save_rule(session: AsyncSession, row: CareRule) -> None:
    """Add or update a rule."""
    session.add(row)
    await session.flush()


async def delete_rule(session: AsyncSession, rule_id: str) -> bool:
    """Remove a rule; False when there was none."""
    result = await session.execute(delete(CareRule).where(CareRule.rule_id == rule_id).returning(CareRule.rule_id))
    return result.scalar_one_or_none() is not None


async def set_fired_through(session: AsyncSession, rule_id: str, at: datetime) -> None:
    """Every moment of the rule up to `at` has been handled."""
    await session.execute(update(CareRule).where(CareRule.rule_id == rule_id).values(fired_through=at))


async def fired_for(session: AsyncSession, *, rule_id: str, customer_ids: Sequence[str]) -> set[str]:
    """Which of these customers the rule already gave a task."""
    if not customer_ids:
        return set()
    stmt = select(CareTask.customer_id).where(
        CareTask.kind == "anticipation", CareTask.rule == rule_id, CareTask.customer_id.in_(customer_ids)
    )
    return set((await session.scalars(stmt)).all())


async def fired_for_orders(session: AsyncSession, *, rule_id: str, order_refs: Sequence[str]) -> set[str]:
    """Which of these orders the rule (anchored on orders) already gave a task."""
    if not order_refs:
        return set()
    stmt = select(CareTask.order_ref).where(CareTask.rule == rule_id, CareTask.order_ref.in_(order_refs))
    return {ref for ref in (await session.scalars(stmt)).all() if ref is not None}
