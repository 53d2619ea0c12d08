"""The goals' rules in the loop: each goal's measure, the baseline it is measured against, and
the admins' baseline changes (audited, `If-Match`).

A measure is `(session, start, end) -> float | None`: the figure over `[start, end)`. Each goal
is measured twice, over its baseline period and over the period asked for, and `domain.assess`
compares them. The ticket and answer figures come from reports' own queries, so a goal and the
report's figure beside it cannot disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.customers import service as customers
from ticketloop_retrospective.db import audit
from ticketloop_retrospective.goals import repository
from ticketloop_retrospective.goals.domain import (
    GOALS,
    BaselineSource,
    GoalRow,
    Target,
    Window,
    assess,
    csat_satisfaction,
    default_baseline,
    overall_satisfaction,
    parse_baseline,
    per_week,
)
from ticketloop_retrospective.goals.models import GoalBaseline
from ticketloop_retrospective.orders import service as orders
from ticketloop_retrospective.reports import repository as figures
from ticketloop_retrospective.reports.domain import Filters, nps_score
from ticketloop_retrospective.rounding import percent, rounded
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import PutPrecondition, check_version
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import NotFound, PreconditionFailed
from ticketloop_shared.vocabulary import Segment

Measure = Callable[[AsyncSession, datetime, datetime], Awaitable[float | None]]
Parts = Callable[[AsyncSession, datetime, datetime], Awaitable[dict[str, float | None]]]

NO_REFERRALS = "no event or API records a referral (who recommended whom), so referrals cannot be counted"
NO_LIFETIME_VALUE = (
    "needs each customer's revenue over the whole relationship; the loop knows only the annual spend a "
    "customer states on a ticket"
)
NO_ORDERS = "no orders recorded (orders arrive with order.recorded)"
CUSTOMER_WIDE = "a goal about every customer: not cut by channel, category, department or segment"


class GoalNotFound(NotFound):
    """No goal of that name."""

    code = "goal_not_found"


class BaselineChanged(PreconditionFailed):
    """The baseline is not at the version the caller named (or exists when it meant to set it)."""

    code = "goal_baseline_changed"


@dataclass(frozen=True)
class GoalDef:
    """One goal: how its figure is measured and what it asks. `measure` None: it cannot be measured
    (`unmeasured` says why); `cohort`: measured on the customers of its baseline period, so the
    measure is made once the baseline is known; `parts`: measured per part, the goal's figure is the
    weakest part's."""

    name: str
    unit: str
    target: Target
    measure: Measure | None = None
    cohort: Callable[[Window], Measure] | None = None
    parts: Parts | None = None
    unmeasured: str | None = None
    when_missing: str | None = None


@dataclass
class _Figures:
    """Reports' totals per window, each asked once per request (several goals read each)."""

    filters: Filters
    answers: dict[tuple[datetime, datetime], figures.AnswerTotals] = field(default_factory=dict)
    tickets: dict[tuple[datetime, datetime], figures.TicketTotals] = field(default_factory=dict)

    async def answer_totals(self, session: AsyncSession, start: datetime, end: datetime) -> figures.AnswerTotals:
        if (start, end) not in self.answers:
            self.answers[start, end] = await figures.answer_totals(session, figures.Scope(start, end, self.filters))
        return self.answers[start, end]

    async def ticket_totals(self, session: AsyncSession, start: datetime, end: datetime) -> figures.TicketTotals:
        if (start, end) not in self.tickets:
            scope = figures.Scope(start, end, self.filters)
            self.tickets[start, end] = await figures.ticket_totals(session, scope, percentiles=False)
        return self.tickets[start, end]


def definitions(settings: RetrospectiveSettings, filters: Filters) -> list[GoalDef]:
    """SPEC's headline goals, each with its measure (cut by the report's filters where the figure
    is about tickets or answers)."""
    cache = _Figures(filters)
    touchpoints = tuple(settings.goal_core_touchpoints)

    async def satisfaction(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        answers = await cache.answer_totals(session, start, end)
        return overall_satisfaction(
            overall_avg=answers.dimensions["overall"],
            overall_responses=answers.dimension_responses,
            csat_avg=answers.csat_avg,
            csat_responses=answers.csat_responses,
        )

    async def touchpoint_satisfaction(session: AsyncSession, start: datetime, end: datetime) -> dict[str, float | None]:
        rows = await repository.touchpoint_csat(
            session, starts_at=start, ends_at=end, filters=filters, channels=touchpoints
        )
        by_channel = {r.channel: csat_satisfaction(r.csat_avg) for r in rows if r.responses}
        return {channel: by_channel.get(channel) for channel in touchpoints}

    async def first_response(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        return rounded((await cache.ticket_totals(session, start, end)).first_response.average)

    async def fcr(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        totals = await cache.ticket_totals(session, start, end)
        return percent(totals.first_contact_resolved, totals.resolved)

    async def nps(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        a = await cache.answer_totals(session, start, end)
        return nps_score(promoters=a.promoters, detractors=a.detractors, responses=a.nps_responses)

    async def complaints(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        count = await repository.complaints(
            session, starts_at=start, ends_at=end, filters=filters, channels=touchpoints
        )
        return per_week(count, start, end)

    def retained_of(baseline: Window) -> Measure:
        async def retained(session: AsyncSession, _start: datetime, end: datetime) -> float | None:
            cohort = await repository.retention(
                session, active_from=baseline.starts_at, active_until=baseline.ends_at, at=end
            )
            return percent(cohort.retained, cohort.customers)

        return retained

    async def repurchase(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        return await orders.repurchase_rate(session, segment=None, start=start, end=end)

    customer_wide = CUSTOMER_WIDE if filters.any else None
    return [
        GoalDef("overall_satisfaction", "score 0–100", Target.at_least(90), measure=satisfaction),
        GoalDef("core_touchpoint_satisfaction", "score 0–100", Target.at_least(92), parts=touchpoint_satisfaction),
        GoalDef("first_response_time", "minutes", Target.change(-50), measure=first_response),
        GoalDef("first_contact_resolution", "%", Target.change(40, capped_at=100), measure=fcr),
        GoalDef(
            "repeat_purchase",
            "%",
            Target.change(30, capped_at=100),
            measure=None if customer_wide else repurchase,
            unmeasured=customer_wide,
            when_missing=NO_ORDERS,
        ),
        GoalDef("referrals", "referrals per week", Target.change(25), unmeasured=NO_REFERRALS),
        GoalDef("complaints", "complaints per week", Target.change(-60), measure=complaints),
        GoalDef(
            "retention",
            "%",
            Target.change(25, capped_at=100),
            cohort=None if customer_wide else retained_of,
            unmeasured=customer_wide,
            when_missing="no customer was active in the baseline period",
        ),
        GoalDef("nps", "score −100…100", Target.change(30), measure=nps),
        GoalDef("customer_lifetime_value", "currency", Target.change(40), unmeasured=NO_LIFETIME_VALUE),
    ]


def high_value_repurchase_goal() -> GoalDef:
    """§5's high-value repurchase +15 %: a segment goal measured against its baseline like the
    headline goals."""

    async def high_value_repurchase(session: AsyncSession, start: datetime, end: datetime) -> float | None:
        return await orders.repurchase_rate(session, segment=Segment.HIGH_VALUE.value, start=start, end=end)

    return GoalDef(
        "high_value_repurchase",
        "%",
        Target.change(15, capped_at=100),
        measure=high_value_repurchase,
        when_missing=NO_ORDERS,
    )


@dataclass(frozen=True)
class Baseline:
    """The baseline period a goal is measured against, and who chose it."""

    goal: str
    window: Window | None
    source: BaselineSource
    row: GoalBaseline | None = None


async def baselines(session: AsyncSession, *, settings: RetrospectiveSettings) -> dict[str, Baseline]:
    """Every goal's baseline: the admin's, else the setting's, else the first complete weeks of
    data (none while there is no data)."""
    zone = settings.report_zone
    admin = await repository.baselines(session)
    first = await repository.first_ticket_at(session)
    default = None if first is None else default_baseline(first, zone, weeks=settings.goal_baseline_weeks)
    chosen: dict[str, Baseline] = {}
    for goal in GOALS:
        if goal in admin:
            row = admin[goal]
            chosen[goal] = Baseline(goal, parse_baseline(row.period, zone), BaselineSource.ADMIN, row)
        elif goal in settings.goal_baselines:
            chosen[goal] = Baseline(goal, parse_baseline(settings.goal_baselines[goal], zone), BaselineSource.SETTING)
        else:
            chosen[goal] = Baseline(goal, default, BaselineSource.DEFAULT)
    return chosen


async def headline(
    session: AsyncSession,
    *,
    starts_at: datetime,
    ends_at: datetime,
    filters: Filters,
    settings: RetrospectiveSettings,
    now: datetime,
    segment_goals: bool,
) -> list[GoalRow]:
    """Every headline goal over `[starts_at, ends_at)` against its baseline; with `segment_goals`,
    §5's segment goals too (about every customer: for unfiltered, organisation-wide reviews)."""
    chosen = await baselines(session, settings=settings)
    defs = definitions(settings, filters)
    if segment_goals:
        defs.append(high_value_repurchase_goal())
    rows = [await _measure(session, d, chosen[d.name], starts_at=starts_at, ends_at=ends_at, now=now) for d in defs]
    if segment_goals:
        rows.extend(await _segment_rows(session, settings=settings, now=now))
    return rows


async def _measure(
    session: AsyncSession, goal: GoalDef, baseline: Baseline, *, starts_at: datetime, ends_at: datetime, now: datetime
) -> GoalRow:
    """One goal measured over its baseline and over the period, then assessed."""
    window = baseline.window

    def row(baseline_value: float | None, current: float | None, note: str | None, **extra: Any) -> GoalRow:
        return assess(
            goal=goal.name,
            unit=goal.unit,
            target=goal.target,
            baseline_window=window,
            baseline_source=baseline.source,
            baseline=baseline_value,
            current=current,
            note=note,
            **extra,
        )

    if goal.unmeasured is not None:
        return row(None, None, goal.unmeasured)
    not_ready: str | None = None
    if window is None:
        not_ready = "no data yet, so no baseline period"
    elif window.ends_at > now:
        not_ready = f"the baseline period {window.label} is not over yet"
    usable = None if not_ready else window
    if goal.parts is not None:
        now_parts = await goal.parts(session, starts_at, ends_at)
        then = None if usable is None else _weakest(await goal.parts(session, usable.starts_at, usable.ends_at))
        current = _weakest(now_parts)
        note = None if current is not None else "no satisfaction answered about a core touchpoint in the period"
        return row(then, current, note, parts=tuple(now_parts.items()))
    measure = goal.measure
    if goal.cohort is not None:
        if usable is None:
            return row(None, None, not_ready)
        measure = goal.cohort(usable)
    if measure is None:
        return row(None, None, goal.when_missing)
    current = await measure(session, starts_at, ends_at)
    then = None if usable is None else await measure(session, usable.starts_at, usable.ends_at)
    note = None
    if current is None:
        note = goal.when_missing
    elif then is None and goal.target.relative:
        note = not_ready or (goal.when_missing if goal.cohort is None else None)
    return row(then, current, note)


def _weakest(parts: dict[str, float | None]) -> float | None:
    """The lowest of the measured parts: every core touchpoint must reach the target."""
    measured = [v for v in parts.values() if v is not None]
    return min(measured) if measured else None


async def _segment_rows(session: AsyncSession, *, settings: RetrospectiveSettings, now: datetime) -> list[GoalRow]:
    """§5's segment goals with absolute targets, as the customer model measures them: over the
    last `goal_window_days` as of now (customers' segments are known as they are now, not per
    report period), so they have no baseline."""
    view = await customers.segments_view(session, settings=settings, now=now, weeks=1)
    note = f"over the last {settings.goal_window_days} days, as of now (GET /v1/segments); an absolute target"

    def row(goal: str, measured: customers.Goal, unit: str) -> GoalRow:
        return assess(
            goal=goal,
            unit=unit,
            target=Target.at_least(measured.target),
            baseline_window=None,
            baseline_source=None,
            baseline=None,
            current=measured.value,
            note=note,
        )

    return [
        row("new_customer_activation_30d", view.activation, "%"),
        row("high_value_satisfaction", view.high_value_satisfaction, "score 0–100"),
        row("churn_risk_recovery", view.churn_recovery, "%"),
    ]


def _known(goal: str) -> None:
    if goal not in GOALS:
        raise GoalNotFound(f"no goal {goal!r}", details={"goal": goal, "known": list(GOALS)})


async def baseline_of(session: AsyncSession, goal: str, *, settings: RetrospectiveSettings) -> Baseline:
    """One goal's baseline in force, or `goal_not_found`."""
    _known(goal)
    return (await baselines(session, settings=settings))[goal]


async def set_baseline(
    uow: RetrospectiveUnit, *, goal: str, period: str, expected: PutPrecondition, by: Principal
) -> tuple[GoalBaseline, bool]:
    """Set (`If-None-Match: *`) or replace (`If-Match` of the version read) the baseline period a
    goal is measured against; True when set where none was. Audited."""
    _known(goal)
    window = parse_baseline(period, uow.settings.report_zone)
    row = await repository.baseline(uow.session, goal, for_update=True)
    check_version(
        None if row is None else row.version,
        expected.version,
        what=f"the baseline of goal {goal!r}",
        error=BaselineChanged,
    )
    created = row is None
    if row is None:
        row = GoalBaseline(goal=goal, version=1)
    else:
        row.version += 1
    row.period = window.label
    row.updated_at = uow.now()
    row.updated_by = by.sub
    await repository.save_baseline(uow.session, row)
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="goal_baseline.set" if created else "goal_baseline.replaced",
        subject=f"goal:{goal}",
        details={"period": window.label, "version": row.version},
    )
    return row, created


async def clear_baseline(uow: RetrospectiveUnit, *, goal: str, version: int, by: Principal) -> None:
    """Remove the admin's baseline at the version read: the goal falls back to the setting, then
    the default. Audited."""
    _known(goal)
    row = await repository.baseline(uow.session, goal, for_update=True)
    if row is None:
        raise GoalNotFound(f"goal {goal!r} has no baseline set by an admin", details={"goal": goal})
    check_version(row.version, version, what=f"the baseline of goal {goal!r}", error=BaselineChanged)
    await repository.delete_baseline(uow.session, goal)
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="goal_baseline.cleared",
        subject=f"goal:{goal}",
        details={"period": row.period, "version": row.version},
    )


def goal_names() -> Sequence[str]:
    """Every goal's name, in the order reports show them."""
    return GOALS
