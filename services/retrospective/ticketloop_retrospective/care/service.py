"""The rules of care: planning a customer's cadence when their segment changes, making contacts
due (each announced once with `care.task_due`), recording a contact when its care ticket is
resolved, and the anticipation rules admins keep. Flushes only; the unit of work commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.care import repository
from ticketloop_retrospective.care.domain import (
    Anchor,
    Cadence,
    Recipient,
    Retries,
    anticipation_due,
    anticipation_moment,
    counts_as_interaction,
    start_of,
)
from ticketloop_retrospective.care.models import CareRule, CareSchedule, CareTask
from ticketloop_retrospective.care.repository import TaskView
from ticketloop_retrospective.db import audit
from ticketloop_retrospective.orders import service as orders
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import PutPrecondition, check_version
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import NotFound, PreconditionFailed
from ticketloop_shared.events import CareOutcome, CareTaskDueData, CareTaskKind
from ticketloop_shared.ids import new_id
from ticketloop_shared.vocabulary import Segment

log = logging.getLogger(__name__)

# A schedule that failed to fire is tried again this much later (not in a tight loop).
POISON_BACKOFF = timedelta(hours=1)
# The anticipation timer looks this far behind its watermark, for customers whose facts (first
# sighting, tenure start) arrive after their moment has passed by a little.
LATE_FACTS = timedelta(days=1)


class CustomerDirectory(Protocol):
    """The customers as care reads them. customers' service provides it and the service root
    hands it to care's timer: customers depend on care (a segment change re-plans it), so care
    never imports customers back."""

    async def recipient(self, session: AsyncSession, customer_id: str) -> Recipient | None:
        """The customer as the read model holds them now; None when unknown."""

    async def anchored_in(
        self,
        session: AsyncSession,
        *,
        segments: Sequence[str],
        since_from: date | None = None,
        since_to: date | None = None,
        seen_from: datetime | None = None,
        seen_to: datetime | None = None,
        after: Recipient | None = None,
        limit: int,
    ) -> Sequence[Recipient]:
        """Customers with a segment (one of `segments`, when given) whose tenure start or first
        sighting lies in the range, in that anchor's order then id, from just after `after`."""


class CareRuleNotFound(NotFound):
    """No anticipation rule has this id."""

    code = "care_rule_not_found"


def cadence_of(settings: RetrospectiveSettings) -> Cadence:
    """The contact cadences in force."""

    def days(value: float | None) -> timedelta | None:
        return None if value is None else timedelta(days=value)

    return Cadence(
        new_daily_for_days=settings.care_new_daily_for_days,
        new_every=timedelta(days=settings.care_new_every_days),
        high_value_every=timedelta(days=settings.care_high_value_every_days),
        churn_risk_every=timedelta(days=settings.care_churn_risk_every_days),
        potential_every=days(settings.care_potential_every_days),
    )


class Plans:
    """Customers whose segment changed, their cadences re-planned together: each the new
    segment's, its first contact one interval from when it was decided (none for a segment without
    a cadence); written in one statement (`write`)."""

    def __init__(self) -> None:
        self.plans: list[repository.Plan] = []

    def replan(self, uow: RetrospectiveUnit, *, customer_id: str, segment: Segment, relationship_start: date) -> None:
        """Re-plan the customer's care for `segment` as of now (written by `write`)."""
        now = uow.now()
        first = cadence_of(uow.settings).next_contact_at(segment, after=now, relationship_start=relationship_start)
        self.plans.append(
            repository.Plan(customer_id=customer_id, segment=segment.value, planned_at=now, next_due_at=first)
        )

    async def write(self, session: AsyncSession) -> None:
        """Write the new schedules (flushes only; the unit of work commits)."""
        await repository.plan(session, self.plans)
        self.plans = []


async def replan(uow: RetrospectiveUnit, *, customer_id: str, segment: Segment, relationship_start: date) -> None:
    """The customer's segment changed: their cadence is the new segment's (see `Plans`)."""
    plans = Plans()
    plans.replan(uow, customer_id=customer_id, segment=segment, relationship_start=relationship_start)
    await plans.write(uow.session)


def retries_of(settings: RetrospectiveSettings) -> Retries:
    """How unanswered care contacts are tried again, as configured."""
    return Retries(
        first_after=timedelta(days=settings.care_retry_first_days),
        factor=settings.care_retry_factor,
        max_attempts=settings.care_max_attempts,
    )


async def record_completion(
    uow: RetrospectiveUnit, *, task: str, ticket_id: uuid.UUID, completed_at: datetime, outcome: CareOutcome | None
) -> bool:
    """A care ticket was resolved: its task's contact was made, with `outcome`. Recorded once
    however often the resolution is told; the first time, an unanswered contact is made due
    again (backing off) until the attempts run out (then recorded `unreachable`), and a
    follow-up is made due when the customer asked for one. Returns whether the customer
    answered (which counts as an interaction with them, every time it is told)."""
    try:
        task_id = uuid.UUID(task)
    except ValueError:
        log.warning("care ticket names no care task", extra={"ticket_id": str(ticket_id)})
        return False
    session, retries = uow.session, retries_of(uow.settings)
    found = await repository.task(session, task_id)
    attempt = found.task.attempt if found is not None else 1
    first = await repository.record_completion(
        session,
        task_id=task_id,
        ticket_id=ticket_id,
        completed_at=completed_at,
        outcome=retries.recorded(outcome, attempt=attempt),
    )
    if first and found is not None:
        await _successor(uow, found.task, outcome=outcome, completed_at=completed_at, retries=retries)
    return counts_as_interaction(outcome)


async def _successor(
    uow: RetrospectiveUnit, task: CareTask, *, outcome: CareOutcome | None, completed_at: datetime, retries: Retries
) -> None:
    """The task that follows a completed one, if any, announced once: the retry of an unanswered
    contact (attempt + 1, backing off) or the follow-up the customer asked for (attempt 1)."""
    due_at: datetime | None = None
    attempt = 1
    if outcome is CareOutcome.NO_ANSWER:
        due_at, attempt = retries.after_no_answer(task.attempt, at=completed_at), task.attempt + 1
    elif outcome is CareOutcome.FOLLOW_UP and uow.settings.care_follow_up_after_days is not None:
        due_at = completed_at + timedelta(days=uow.settings.care_follow_up_after_days)
    if due_at is None:
        return
    task_id = new_id()
    created = await repository.add_task(
        uow.session,
        task_id=task_id,
        customer_id=task.customer_id,
        kind=task.kind,
        rule=task.rule,
        segment=task.segment,
        category=task.category,
        preferred_channel=task.preferred_channel,
        due_at=due_at,
        created_at=uow.now(),
        attempt=attempt,
        previous_task_id=task.task_id,
    )
    if created:
        uow.emit(
            CareTaskDueData(
                task_id=task_id,
                customer_id=task.customer_id,
                kind=CareTaskKind(task.kind),
                rule=task.rule,
                segment=task.segment,
                category=task.category,
                preferred_channel=task.preferred_channel,
                due_at=due_at,
                attempt=attempt,
            ),
            subject=task.customer_id,
        )


async def fire_due(uow: RetrospectiveUnit, *, customers: CustomerDirectory, limit: int) -> tuple[int, bool]:
    """The timer's batch: every cadence contact due by now becomes a task, announced once; each
    schedule in a savepoint of its own (one that fails is logged and tried again later). Returns
    how many tasks were announced and whether the batch was full."""
    session, now = uow.session, uow.now()
    schedules = await repository.due_schedules(session, now=now, limit=limit)
    announced = 0
    for schedule in schedules:
        customer_id = schedule.customer_id  # readable after a rolled-back savepoint
        async with uow.isolated("firing a care schedule", customer=customer_id) as item:
            announced += await _fire(uow, schedule, await customers.recipient(session, customer_id), now=now)
        if item.failed:
            await repository.set_next_due(session, customer_id, now + POISON_BACKOFF)
    return announced, len(schedules) >= limit


async def _fire(uow: RetrospectiveUnit, schedule: CareSchedule, customer: Recipient | None, *, now: datetime) -> int:
    session, settings = uow.session, uow.settings
    due_at = schedule.next_due_at
    if customer is None or due_at is None:
        await repository.set_next_due(session, schedule.customer_id, None)
        return 0
    start = customer.relationship_start
    if customer.segment != schedule.segment and customer.segment is not None:
        # Re-planned with the segment change; a schedule left behind follows the segment now.
        await replan(uow, customer_id=customer.customer_id, segment=Segment(customer.segment), relationship_start=start)
        return 0
    segment = Segment(schedule.segment)
    cadence = cadence_of(settings)
    task_id = new_id()
    created = await repository.add_task(
        session,
        task_id=task_id,
        customer_id=customer.customer_id,
        kind=CareTaskKind.CADENCE.value,
        rule=cadence.rule(segment),
        segment=segment.value,
        category=settings.care_category,
        preferred_channel=customer.preferred_channel,
        due_at=due_at,
        created_at=now,
    )
    if created:
        uow.emit(
            CareTaskDueData(
                task_id=task_id,
                customer_id=customer.customer_id,
                kind=CareTaskKind.CADENCE,
                rule=cadence.rule(segment),
                segment=segment.value,
                category=settings.care_category,
                preferred_channel=customer.preferred_channel,
                due_at=due_at,
            ),
            subject=customer.customer_id,
        )
    following = cadence.after_firing(segment, due_at=due_at, now=now, relationship_start=start)
    await repository.set_next_due(session, customer.customer_id, following)
    return 1 if created else 0


def _ceil_date(at: datetime) -> date:
    """The first day (UTC) whose midnight is at or after `at`."""
    day = at.astimezone(UTC).date()
    return day if start_of(day) >= at else day + timedelta(days=1)


async def fire_anticipation(uow: RetrospectiveUnit, *, customers: CustomerDirectory, limit: int) -> tuple[int, bool]:
    """The timer's anticipation batch: for each rule no other replica holds, every customer whose
    moment (anchor + offset) has come since the rule exists, in the rule's segments, gets one task,
    announced once. Returns how many were announced and whether any rule had more waiting."""
    session, now = uow.session, uow.now()
    announced, more = 0, False
    for rule in await repository.lock_rules(session):
        anchor = Anchor(rule.anchor)
        lower = max(rule.active_from, rule.fired_through - LATE_FACTS)
        if lower > now:
            continue
        if anchor is Anchor.ORDER:
            fired, full = await _fire_after_orders(uow, customers, rule, lower=lower, now=now, limit=limit)
            announced += fired
            if full:
                more = True
            else:
                await repository.set_fired_through(session, rule.rule_id, now)
            continue
        found = await _not_yet_given(session, customers, rule, lower=lower, now=now, limit=limit)
        for customer in found:
            moment = anticipation_moment(
                anchor, rule.offset_days, customer_since=customer.customer_since, first_seen_at=customer.first_seen_at
            )
            if moment is None or not anticipation_due(moment, active_from=rule.active_from, now=now):
                continue
            announced += await _anticipation_task(
                uow,
                rule,
                customer_id=customer.customer_id,
                segment=customer.segment or Segment.POTENTIAL.value,
                preferred_channel=customer.preferred_channel,
                due_at=moment,
                now=now,
            )
        if len(found) >= limit:
            more = True  # the watermark stays: the next batch finds the ones left (fired ones drop out)
        else:
            await repository.set_fired_through(session, rule.rule_id, now)
    return announced, more


async def _not_yet_given(
    session: AsyncSession, customers: CustomerDirectory, rule: CareRule, *, lower: datetime, now: datetime, limit: int
) -> list[Recipient]:
    """The first `limit` customers (anchor order) in the rule's segments whose anchor puts their
    moment between `lower` and `now`, and whom the rule gave no task yet. Paged through the
    customers' range, dropping the ones already given a task, so the answer is what one query
    joining both would give."""
    offset = timedelta(days=rule.offset_days)
    found: list[Recipient] = []
    after: Recipient | None = None
    while True:
        if Anchor(rule.anchor) is Anchor.CUSTOMER_SINCE:
            page = await customers.anchored_in(
                session,
                segments=rule.segments,
                since_from=_ceil_date(lower - offset),
                since_to=(now - offset).astimezone(UTC).date(),
                after=after,
                limit=limit,
            )
        else:
            page = await customers.anchored_in(
                session,
                segments=rule.segments,
                seen_from=lower - offset,
                seen_to=now - offset,
                after=after,
                limit=limit,
            )
        given = await repository.fired_for(session, rule_id=rule.rule_id, customer_ids=[c.customer_id for c in page])
        found.extend(c for c in page if c.customer_id not in given)
        if len(found) >= limit or len(page) < limit:
            return found[:limit]
        after = page[-1]


async def _fire_after_orders(
    uow: RetrospectiveUnit, customers: CustomerDirectory, rule: CareRule, *, lower: datetime, now: datetime, limit: int
) -> tuple[int, bool]:
    """A rule anchored on orders: every purchase whose moment (`ordered_at` + offset) lies
    between `lower` and `now`, and came since the rule exists, gives its customer one task, once
    per order (the task's unique `order_ref`: a restart, a second replica or a redelivered order
    never makes a second). Purchases whose customer is outside the rule's segments at that moment
    get none. Returns how many were announced and whether the batch was full."""
    session = uow.session
    offset = timedelta(days=rule.offset_days)
    announced, seen = 0, 0
    after: orders.OrderMoment | None = None
    while seen < limit:
        page = await orders.purchases_between(
            session, ordered_from=lower - offset, ordered_to=now - offset, after=after, limit=limit
        )
        given = await repository.fired_for_orders(session, rule_id=rule.rule_id, order_refs=[o.ref for o in page])
        for order in page:
            if order.ref in given:
                continue
            seen += 1
            moment = anticipation_moment(
                Anchor.ORDER,
                rule.offset_days,
                customer_since=None,
                first_seen_at=order.ordered_at,
                ordered_at=order.ordered_at,
            )
            customer = await customers.recipient(session, order.customer_id)
            if customer is None or not anticipation_due(moment, active_from=rule.active_from, now=now):
                continue
            segment = customer.segment or Segment.POTENTIAL.value
            if rule.segments and segment not in rule.segments:
                continue
            assert moment is not None
            announced += await _anticipation_task(
                uow,
                rule,
                customer_id=customer.customer_id,
                segment=segment,
                preferred_channel=customer.preferred_channel,
                due_at=moment,
                now=now,
                order_ref=order.ref,
            )
        if len(page) < limit:
            return announced, False
        after = page[-1]
    return announced, True


async def _anticipation_task(
    uow: RetrospectiveUnit,
    rule: CareRule,
    *,
    customer_id: str,
    segment: str,
    preferred_channel: str | None,
    due_at: datetime,
    now: datetime,
    order_ref: str | None = None,
) -> int:
    """One task for the customer's moment (for `order_ref`'s order, when the rule is anchored on
    orders), announced the first time only; 1 if it was new."""
    task_id = new_id()
    created = await repository.add_task(
        uow.session,
        task_id=task_id,
        customer_id=customer_id,
        kind=CareTaskKind.ANTICIPATION.value,
        rule=rule.rule_id,
        segment=segment,
        category=rule.category,
        preferred_channel=preferred_channel,
        due_at=due_at,
        created_at=now,
        order_ref=order_ref,
    )
    if not created:
        return 0
    uow.emit(
        CareTaskDueData(
            task_id=task_id,
            customer_id=customer_id,
            kind=CareTaskKind.ANTICIPATION,
            rule=rule.rule_id,
            segment=segment,
            category=rule.category,
            preferred_channel=preferred_channel,
            due_at=due_at,
        ),
        subject=customer_id,
    )
    return 1


async def put_rule(
    uow: RetrospectiveUnit,
    *,
    rule_id: str,
    name: str,
    anchor: Anchor,
    offset_days: int,
    category: str,
    segments: Sequence[Segment],
    expected: PutPrecondition,
    by: Principal,
) -> tuple[CareRule, bool]:
    """Create (`If-None-Match: *`) or replace (`If-Match` of the version read) an anticipation
    rule; True when created. A replaced rule keeps its creation instant and looks at its moments
    since then again under its new definition (the customers it already contacted are not
    contacted twice)."""
    now = uow.now()
    row = await repository.rule(uow.session, rule_id, for_update=True)
    check_version(
        None if row is None else row.version, expected.version, what=f"care rule {rule_id!r}", error=CareRuleChanged
    )
    created = row is None
    if row is None:
        row = CareRule(rule_id=rule_id, active_from=now, version=1)
    else:
        row.version += 1
    row.name = name
    row.anchor = anchor.value
    row.offset_days = offset_days
    row.category = category
    row.segments = [s.value for s in segments]
    row.fired_through = row.active_from
    row.updated_at = now
    row.updated_by = by.sub
    await repository.save_rule(uow.session, row)
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="care_rule.created" if created else "care_rule.replaced",
        subject=f"care_rule:{rule_id}",
        details={
            "name": name,
            "anchor": anchor.value,
            "offset_days": offset_days,
            "category": category,
            "segments": row.segments,
            "version": row.version,
        },
    )
    return row, created


async def get_rule(uow: RetrospectiveUnit, rule_id: str) -> CareRule:
    """One anticipation rule, or `care_rule_not_found`."""
    row = await repository.rule(uow.session, rule_id)
    if row is None:
        raise CareRuleNotFound(f"no care rule {rule_id!r}", details={"rule_id": rule_id})
    return row


class CareRuleChanged(PreconditionFailed):
    """The rule is not at the version the caller named (or exists when it meant to create it)."""

    code = "care_rule_changed"


async def delete_rule(uow: RetrospectiveUnit, rule_id: str, *, version: int, by: Principal) -> None:
    """Remove an anticipation rule at the version read (the tasks it made stay; audited), or
    `care_rule_not_found`."""
    row = await repository.rule(uow.session, rule_id, for_update=True)
    if row is None:
        raise CareRuleNotFound(f"no care rule {rule_id!r}", details={"rule_id": rule_id})
    check_version(row.version, version, what=f"care rule {rule_id!r}", error=CareRuleChanged)
    await repository.delete_rule(uow.session, rule_id)
    await audit_log.record(uow.session, audit, actor=by, action="care_rule.deleted", subject=f"care_rule:{rule_id}")


@dataclass(frozen=True)
class CareView:
    """A customer's care as staff see it on their profile: the schedule and the latest tasks."""

    schedule: CareSchedule | None
    tasks: list[TaskView]


async def care_of(session: AsyncSession, customer_id: str, *, limit: int) -> CareView:
    """The customer's schedule, if any, and their `limit` latest tasks (newest due first) with
    their completions."""
    return CareView(
        schedule=await repository.schedule(session, customer_id),
        tasks=await repository.tasks(session, customer_id, limit=limit),
    )
