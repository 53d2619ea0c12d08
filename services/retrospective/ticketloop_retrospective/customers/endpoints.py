"""HTTP: staff read customers, their segments and the segment goals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.customers import repository, service
from ticketloop_retrospective.customers.models import Customer
from ticketloop_retrospective.customers.schemas import (
    Answer,
    Care,
    CareScheduleOut,
    CareTaskOut,
    CustomerOut,
    CustomerPage,
    CustomerSummary,
    GoalOut,
    Objection,
    Satisfaction,
    SegmentChangeOut,
    SegmentGoals,
    SegmentsOut,
    TicketCounts,
    WeekCounts,
)
from ticketloop_retrospective.facts import service as facts
from ticketloop_retrospective.unit import SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentStaff, Principal, Role, department_scope
from ticketloop_shared.errors import Forbidden
from ticketloop_shared.validation import STORABLE
from ticketloop_shared.vocabulary import Segment

router = APIRouter(prefix="/v1", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]
MAX_WEEKS = 52


def _summary(c: Customer) -> dict[str, object]:
    return {
        "customer_id": c.customer_id,
        "segment": c.segment,
        "reasons": list(c.segment_reasons or []),
        "segment_since": c.segment_since,
        "first_seen_at": c.first_seen_at,
        "customer_since": c.customer_since,
        "last_interaction_at": c.last_interaction_at,
    }


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    responses={
        403: {"description": "`not_your_department`: the customer has no ticket in your department"},
        404: {"description": "The loop has told retrospective nothing of this customer (`customer_not_found`)"},
    },
)
async def get_customer(
    customer_id: CustomerId, settings: SettingsDep, session: SessionDep, staff: CurrentStaff
) -> CustomerOut:
    """One customer: profile facts, current segment and why, segment history, ticket counts,
    satisfaction history, open objections and care (ids and facts only). An agent or supervisor
    reads the customers with a ticket its department holds; an admin every customer."""
    await _may_read(session, staff, customer_id)
    view = await service.customer_view(session, customer_id, settings=settings)
    c = view.customer
    return CustomerOut(
        **_summary(c),
        annual_spend=c.known_spend,
        reported_annual_spend=c.annual_spend,
        recent_purchases=c.recent_purchases or 0,
        spend_rising=bool(c.spend_rising),
        preferred_channel=c.preferred_channel,
        first_interaction_at=c.first_interaction_at,
        tickets=TicketCounts(
            opened=view.tickets.opened,
            open=view.tickets.open,
            resolved=view.tickets.resolved,
            proactive=view.tickets.proactive,
        ),
        satisfaction=Satisfaction(
            average=None if view.satisfaction is None else round(view.satisfaction, 1),
            window=settings.satisfaction_window,
            answers=[
                Answer(survey_id=a.survey_id, kind=a.kind, score=a.score, answered_at=a.answered_at)
                for a in view.answers
            ],
        ),
        objections=[Objection(kind=o.kind, source_id=o.source_id, raised_at=o.raised_at) for o in view.objections],
        history=[
            SegmentChangeOut(
                segment=h.segment, previous_segment=h.previous_segment, reasons=list(h.reasons), changed_at=h.changed_at
            )
            for h in view.history
        ],
        care=Care(
            schedule=None
            if view.care.schedule is None
            else CareScheduleOut(
                segment=view.care.schedule.segment,
                planned_at=view.care.schedule.planned_at,
                next_due_at=view.care.schedule.next_due_at,
            ),
            tasks=[
                CareTaskOut(
                    task_id=t.task.task_id,
                    kind=t.task.kind,
                    rule=t.task.rule,
                    segment=t.task.segment,
                    category=t.task.category,
                    preferred_channel=t.task.preferred_channel,
                    due_at=t.task.due_at,
                    created_at=t.task.created_at,
                    completed_at=t.completed_at,
                    ticket_id=t.ticket_id,
                    attempt=t.task.attempt,
                    outcome=t.outcome,
                )
                for t in view.care.tasks
            ],
        ),
    )


async def _may_read(session: AsyncSession, staff: Principal, customer_id: str) -> None:
    """403 `not_your_department` unless an admin, or the customer has a ticket in the caller's
    department (checked before the profile is looked up: another department learns nothing)."""
    if staff.role is Role.ADMIN:
        return
    assert staff.department is not None  # require_staff refuses a department role without one
    if not await facts.customer_in_department(session, customer_id=customer_id, department_id=staff.department):
        raise Forbidden("the customer has no ticket in your department", code="not_your_department")


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    session: SessionDep,
    staff: CurrentStaff,
    segment: Annotated[Segment | None, Query(description="Only customers in this segment")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        str | None, Query(min_length=1, max_length=100, description="`next_after` of the previous page"), STORABLE
    ] = None,
) -> CustomerPage:
    """Customers by id, optionally of one segment, a page at a time; an agent or supervisor
    lists the customers with a ticket its department holds."""
    department = department_scope(staff)
    rows = await repository.page(
        session,
        segment=segment.value if segment else None,
        after=after,
        limit=limit,
        among=None if department is None else facts.customers_of_department(department),
    )
    items = [CustomerSummary(**_summary(c)) for c in rows]
    return CustomerPage(items=items, next_after=rows[-1].customer_id if len(rows) == limit else None)


@router.get("/segments", response_model=SegmentsOut)
async def segments(
    settings: SettingsDep,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CurrentStaff,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS, description="How many past report weeks the trend shows")] = 8,
) -> SegmentsOut:
    """Customers per segment now, at the end of each of the last `weeks` report weeks, and the
    segment goals (new customers' activation, high-value satisfaction, churn-risk recovery)."""
    now = runtime.clock.now()
    view = await service.segments_view(session, settings=settings, now=now, weeks=weeks)
    days = settings.goal_activation_days

    def goal(g: service.Goal, definition: str, *, at_least: float) -> GoalOut:
        met = None if g.value is None else g.value >= at_least
        return GoalOut(
            definition=definition, value=g.value, target=g.target, met=met, cohort=g.cohort, reached=g.reached
        )

    return SegmentsOut(
        as_of=now,
        counts=view.now,
        trend=[WeekCounts(week=label, ends_at=end, counts=counts) for label, end, counts in view.weeks],
        goals=SegmentGoals(
            window_from=view.window_from,
            new_activation_pct=goal(
                view.activation,
                f"% of the customers who became new in the window (and whose first {days} days are over) "
                f"with a customer interaction within {days} days of their tenure start",
                at_least=view.activation.target,
            ),
            high_value_satisfaction=goal(
                view.high_value_satisfaction,
                "average satisfaction (0–100) of the answers given in the window by customers high-value now",
                at_least=view.high_value_satisfaction.target,
            ),
            churn_risk_recovery_pct=goal(
                view.churn_recovery,
                "% of the customers who entered churn_risk in the window and later left it",
                at_least=view.churn_recovery.target,
            ),
        ),
    )
