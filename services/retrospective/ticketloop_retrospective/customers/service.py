"""The rules of the customer read model: what each event teaches about its customer, and the
segment decision that follows in the same transaction (announced with
`customer.segment_changed` only when the segment changes). Flushes only; the unit of work commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.care import service as care
from ticketloop_retrospective.care.domain import Recipient
from ticketloop_retrospective.customers import repository
from ticketloop_retrospective.customers.domain import (
    CustomerFacts,
    Profile,
    SegmentRules,
    normalised_satisfaction,
    relationship_start,
    satisfaction_of,
    segment_for,
)
from ticketloop_retrospective.customers.models import Customer, CustomerAnswer, SegmentChange
from ticketloop_retrospective.customers.repository import PROACTIVE_CHANNEL
from ticketloop_retrospective.orders import service as orders
from ticketloop_retrospective.rounding import percent, rounded
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveUnit
from ticketloop_shared.errors import NotFound
from ticketloop_shared.events import (
    CustomerSegmentChangedData,
    Envelope,
    FeedbackReceivedData,
    FeedbackReceivedV2Data,
    LowScoreData,
    OrderRecordedData,
    SurveyKind,
    TicketClosedData,
    TicketCreatedData,
    TicketOrigin,
    TicketRef,
    TicketReopenedData,
    TicketResolvedData,
)
from ticketloop_shared.vocabulary import Segment


def rules_of(settings: RetrospectiveSettings) -> SegmentRules:
    """The segment thresholds in force."""
    return SegmentRules(
        new_for_months=settings.new_for_months,
        loyal_after_months=settings.loyal_after_months,
        top_spend_share=settings.top_spend_share,
        churn_silence_days=settings.churn_silence_days,
        churn_satisfaction_below=settings.churn_satisfaction_below,
        recent_order_days=settings.potential_recent_order_days,
    )


def _by_customer(ref: TicketRef) -> bool:
    """A ticket the customer reported (a proactive one the loop opened is not their interaction)."""
    return ref.channel != PROACTIVE_CHANNEL


class Run:
    """What a run of events teaches the customer model: its tickets and sightings, written in a
    few statements (`write`), then each customer concerned decided once, from all of it."""

    def __init__(self) -> None:
        self.tickets: list[dict[str, Any]] = []
        self.sightings: list[dict[str, Any]] = []
        # Each customer concerned, with the latest event about them: the cause of their decision.
        self.concerned: dict[str, Envelope | None] = {}

    async def write(self, uow: RetrospectiveUnit) -> None:
        """Write the rows in their order, then decide every customer concerned."""
        await repository.record_tickets(uow.session, self.tickets)
        await repository.record_customers(uow.session, self.sightings)
        await evaluate_many(uow, self.concerned)

    def concern(self, uow: RetrospectiveUnit, customer_id: str) -> None:
        """The customer is decided at the end of the run, caused by the event handled now."""
        self.concerned.pop(customer_id, None)
        self.concerned[customer_id] = uow.cause


def _ticket(
    uow: RetrospectiveUnit,
    run: Run,
    ref: TicketRef,
    *,
    interaction_at: datetime | None = None,
    profile: Profile | None = None,
    need: str | None = None,
    origin: TicketOrigin | None = None,
    origin_id: str | None = None,
    resolved_at: datetime | None = None,
    reopened_at: datetime | None = None,
) -> None:
    """Learn from any ticket event: the ticket, its customer, then the customer's segment."""
    run.tickets.append(
        {
            "ticket_id": ref.ticket_id,
            "customer_id": ref.customer_id,
            "channel": ref.channel,
            "created_at": ref.created_at,
            "need": need,
            "origin": origin.value if origin is not None else None,
            "origin_id": origin_id,
            "resolved_at": resolved_at,
            "reopened_at": reopened_at,
        }
    )
    run.sightings.append(
        repository.sighting(
            customer_id=ref.customer_id, seen_at=ref.created_at, profile=profile, interaction_at=interaction_at
        )
    )
    run.concern(uow, ref.customer_id)


def ticket_created(uow: RetrospectiveUnit, run: Run, data: TicketCreatedData) -> None:
    """A ticket: the customer's profile as of its creation; the customer's interaction when they
    reported it themselves; a complaint (an objection) when that is what they need."""
    mine = _by_customer(data) and data.origin is TicketOrigin.CUSTOMER
    profile = Profile(
        at=data.created_at,
        customer_since=data.customer_since,
        annual_spend=data.customer_annual_spend,
        preferred_channel=data.customer_preferred_channel,
    )
    _ticket(
        uow,
        run,
        data,
        interaction_at=data.created_at if mine else None,
        profile=profile,
        need=data.need,
        origin=data.origin,
        origin_id=data.origin_id,
    )


async def ticket_resolved(uow: RetrospectiveUnit, run: Run, data: TicketResolvedData) -> None:
    """A resolution: may solve a complaint or, for a recovery ticket, the low score behind it; a
    care ticket's resolution records its care contact, an interaction when the customer answered."""
    answered = False
    if data.origin is TicketOrigin.CARE and data.origin_id is not None:
        answered = await care.record_completion(
            uow, task=data.origin_id, ticket_id=data.ticket_id, completed_at=data.resolved_at, outcome=data.outcome
        )
    _ticket(
        uow,
        run,
        data,
        interaction_at=data.resolved_at if answered else None,
        origin=data.origin,
        origin_id=data.origin_id,
        resolved_at=data.resolved_at,
    )


def ticket_reopened(uow: RetrospectiveUnit, run: Run, data: TicketReopenedData) -> None:
    """A reopening (always the customer's doing: a message, a request, a repeat contact): the
    problem stands again."""
    _ticket(uow, run, data, interaction_at=data.reopened_at, reopened_at=data.reopened_at)


def ticket_closed(uow: RetrospectiveUnit, run: Run, data: TicketClosedData) -> None:
    """A closure implies the resolution; a customer who confirmed it interacted."""
    _ticket(
        uow,
        run,
        data,
        interaction_at=None if data.automatic else data.closed_at,
        resolved_at=data.resolved_at or data.closed_at,
    )


def customer_wrote(uow: RetrospectiveUnit, run: Run, ref: TicketRef, *, at: datetime) -> None:
    """The customer wrote again or reported the same problem again: an interaction, whichever
    ticket it was on."""
    _ticket(uow, run, ref, interaction_at=at)


async def answered(uow: RetrospectiveUnit, run: Run, data: FeedbackReceivedData | FeedbackReceivedV2Data) -> None:
    """A survey answer: an interaction, and a point of the customer's satisfaction history."""
    if isinstance(data, FeedbackReceivedData):
        score = normalised_satisfaction(csat=data.csat, nps=data.nps)
        kind = SurveyKind.TICKET
    else:
        score = normalised_satisfaction(csat=data.csat, dimensions=data.dimensions, nps=data.nps)
        kind = data.kind
    run.sightings.append(
        repository.sighting(customer_id=data.customer_id, seen_at=data.answered_at, interaction_at=data.answered_at)
    )
    if score is not None:
        await repository.record_answer(
            uow.session,
            survey_id=data.survey_id,
            customer_id=data.customer_id,
            score=score,
            kind=kind.value,
            answered_at=data.answered_at,
        )
    run.concern(uow, data.customer_id)


async def low_score(uow: RetrospectiveUnit, data: LowScoreData) -> None:
    """A low score is an explicit objection; it stands until its recovery ticket is resolved."""
    await repository.record_customer(uow.session, customer_id=data.customer_id, seen_at=data.answered_at)
    await repository.record_objection(
        uow.session,
        survey_id=data.survey_id,
        customer_id=data.customer_id,
        ticket_id=data.ticket_id,
        raised_at=data.answered_at,
    )
    await evaluate(uow, data.customer_id)


def low_score_surveys() -> Select[Any]:
    """The surveys whose answer feedback announced as a low score (as a subquery: the review
    tells a recovered customer's next answer from another low one by feedback's own rule)."""
    return repository.low_score_surveys()


async def order_recorded(uow: RetrospectiveUnit, data: OrderRecordedData) -> None:
    """An order: the customer is known (from their order alone, if they never filed a ticket),
    buying is an interaction, and their spend and growth signals are taken anew."""
    await repository.record_customer(
        uow.session, customer_id=data.customer_id, seen_at=data.ordered_at, interaction_at=data.ordered_at
    )
    await evaluate(uow, data.customer_id, refresh_orders=True)


async def spend_threshold(uow: RetrospectiveUnit, *, refresh: bool = False) -> float | None:
    """The top-spend line: the cached one while younger than the setting allows, else (or when
    asked to `refresh`, or while there is no line) computed anew over the read model."""
    settings, now = uow.settings, uow.now()
    if not refresh:
        cached = await repository.cached_threshold(uow.session)
        # No line yet (too few spends known when last computed): every new spend may be the one
        # that makes a line, so it is not cached away for the refresh period.
        if cached is not None and cached.threshold is not None:
            age = now - cached.computed_at
            if timedelta(0) <= age < timedelta(minutes=settings.top_spend_refresh_minutes):
                return cached.threshold
    return await repository.compute_threshold(
        uow.session, share=settings.top_spend_share, min_customers=settings.top_spend_min_customers, at=now
    )


async def _order_facts(uow: RetrospectiveUnit, customer: Customer, *, refresh: bool) -> tuple[float | None, int, bool]:
    """The customer's spend and growth signals from their orders: taken anew (and kept) when
    `refresh`, else as last kept (the 365-day window moves on with each order and the daily sweep)."""
    if not refresh:
        return customer.known_spend, customer.recent_purchases or 0, bool(customer.spend_rising)
    stats = await orders.stats_of(uow.session, customer.customer_id, settings=uow.settings, now=uow.now())
    spend = float(stats.annual_spend) if stats.has_orders else None
    await repository.set_order_stats(
        uow.session,
        customer_id=customer.customer_id,
        order_spend=spend,
        recent_purchases=stats.recent_purchases,
        spend_rising=stats.spend_rising,
        at=uow.now(),
    )
    known = spend if spend is not None else customer.annual_spend
    return known, stats.recent_purchases, stats.spend_rising


async def evaluate(
    uow: RetrospectiveUnit,
    customer_id: str,
    *,
    threshold: float | None = None,
    cached: bool = False,
    refresh_orders: bool = False,
) -> None:
    """Decide the customer's segment from their facts now; on a change, record it, announce it
    and re-plan their care. `cached`: use `threshold` as the top-spend line (the sweep computes it
    once for all). `refresh_orders`: take their spend and growth signals from their orders anew."""
    session, settings = uow.session, uow.settings
    customer = await repository.lock(session, customer_id)
    if customer is None:
        return
    scores = await repository.recent_scores(session, customer_id, limit=settings.satisfaction_window)
    objections = await repository.open_objections(session, customer_id)
    moves = _Moves()
    await _decide(
        uow,
        customer,
        moves,
        scores=scores,
        objections=len(objections),
        threshold=threshold,
        cached=cached,
        refresh_orders=refresh_orders,
    )
    await moves.write(session)


async def evaluate_many(uow: RetrospectiveUnit, customers: Mapping[str, Envelope | None]) -> None:
    """`evaluate` each customer of a run once, from everything the run taught (their facts read
    in a few statements, the top-spend line once: nothing a run writes moves it between two of
    them); what a decision emits is caused by the latest event about the customer."""
    if not customers:
        return
    session, settings = uow.session, uow.settings
    ids = sorted(customers)
    locked = await repository.lock_many(session, ids)
    scores = await repository.recent_scores_of(session, ids, limit=settings.satisfaction_window)
    objections = await repository.open_objection_counts(session, ids)
    line = await spend_threshold(uow)
    moves = _Moves()
    for customer_id, cause in customers.items():
        customer = locked.get(customer_id)
        if customer is None:
            continue
        with uow.caused_by(cause):
            await _decide(
                uow,
                customer,
                moves,
                scores=scores.get(customer_id, []),
                objections=objections.get(customer_id, 0),
                threshold=line,
                cached=True,
                refresh_orders=False,
            )
    await moves.write(session)


class _Moves:
    """The segment changes decided in one go (one customer, or each customer of a run once):
    the customers' new segments and history, and their care re-planned, written together at the
    end, a few statements whatever their number (nothing deciding another customer reads them)."""

    def __init__(self) -> None:
        self.segments: list[repository.SegmentMove] = []
        self.care = care.Plans()

    async def write(self, session: AsyncSession) -> None:
        """Write the changes in the order they were decided (flushes only)."""
        await repository.set_segments(session, self.segments)
        await self.care.write(session)


async def _decide(
    uow: RetrospectiveUnit,
    customer: Customer,
    moves: _Moves,
    *,
    scores: list[float],
    objections: int,
    threshold: float | None,
    cached: bool,
    refresh_orders: bool,
) -> None:
    """The segment `customer`'s facts put them in now; on a change, record it (in `moves`),
    announce it and re-plan their care (`threshold`, `cached`, `refresh_orders`: see `evaluate`)."""
    session, settings, now = uow.session, uow.settings, uow.now()
    customer_id = customer.customer_id
    spend, recent_purchases, rising = await _order_facts(uow, customer, refresh=refresh_orders)
    facts = CustomerFacts(
        first_seen_at=customer.first_seen_at,
        customer_since=customer.customer_since,
        annual_spend=spend,
        last_interaction_at=customer.last_interaction_at,
        satisfaction=satisfaction_of(scores, window=settings.satisfaction_window),
        open_objections=objections,
        recent_purchases=recent_purchases,
        spend_rising=rising,
    )
    # (after the order facts: refreshing them may move the line)
    line = threshold if cached else await spend_threshold(uow)
    decision = segment_for(facts, now=now, spend_threshold=line, rules=rules_of(settings))
    reasons = list(decision.reasons)
    if customer.segment == decision.segment.value:
        # (what `set_reasons` would change: nothing when they are the same)
        if customer.segment_reasons is not None and list(customer.segment_reasons) != reasons:
            await repository.set_reasons(session, customer_id=customer_id, reasons=reasons)
        return
    previous = customer.segment
    moves.segments.append(
        repository.SegmentMove(
            customer=customer, segment=decision.segment.value, previous=previous, reasons=reasons, at=now
        )
    )
    uow.emit(
        CustomerSegmentChangedData(
            customer_id=customer_id,
            segment=decision.segment.value,
            previous_segment=previous,
            reasons=reasons,
            changed_at=now,
            customer_since=customer.customer_since,
            first_seen_at=customer.first_seen_at,
            preferred_channel=customer.preferred_channel,
        ),
        subject=customer_id,
    )
    moves.care.replan(
        uow,
        customer_id=customer_id,
        segment=decision.segment,
        relationship_start=relationship_start(customer.customer_since, customer.first_seen_at),
    )


async def sweep_batch(uow: RetrospectiveUnit, *, threshold: float | None, limit: int) -> tuple[int, bool]:
    """The daily sweep's batch: re-decide the segment of customers not looked at for
    `segment_sweep_every_hours` (tenure crossing 3 or 12 months, silence, the spend line moving).
    Each customer in a savepoint of their own: one that fails is logged and skipped until the
    next sweep. Returns how many were looked at and whether the batch was full."""
    session, now = uow.session, uow.now()
    swept_before = now - timedelta(hours=uow.settings.segment_sweep_every_hours)
    ids = await repository.due_for_sweep(session, swept_before=swept_before, limit=limit)
    for customer_id in ids:
        async with uow.isolated("re-deciding a customer's segment", customer=customer_id):
            await evaluate(uow, customer_id, threshold=threshold, cached=True, refresh_orders=True)
    await repository.mark_swept(session, ids, at=now)
    return len(ids), len(ids) >= limit


@dataclass(frozen=True)
class CustomerView:
    """Everything staff see about one customer (ids and facts only)."""

    customer: Customer
    satisfaction: float | None
    answers: Sequence[CustomerAnswer]
    objections: list[repository.OpenObjection]
    tickets: repository.TicketCounts
    history: Sequence[SegmentChange]
    care: care.CareView


class CustomerNotFound(NotFound):
    """The loop has told retrospective nothing about this customer."""

    code = "customer_not_found"


HISTORY_SHOWN = 100
ANSWERS_SHOWN = 50
TASKS_SHOWN = 50


async def customer_view(session: AsyncSession, customer_id: str, *, settings: RetrospectiveSettings) -> CustomerView:
    """One customer's profile, segment and why, history, tickets, satisfaction and care."""
    customer = await repository.get(session, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id!r} is known", details={"customer_id": customer_id})
    answers = await repository.answers(session, customer_id, limit=ANSWERS_SHOWN)
    return CustomerView(
        customer=customer,
        satisfaction=satisfaction_of([a.score for a in answers], window=settings.satisfaction_window),
        answers=answers,
        objections=await repository.open_objections(session, customer_id),
        tickets=await repository.ticket_counts(session, customer_id),
        history=await repository.history(session, customer_id, limit=HISTORY_SHOWN),
        care=await care.care_of(session, customer_id, limit=TASKS_SHOWN),
    )


def _recipient(customer: Customer) -> Recipient:
    return Recipient(
        customer_id=customer.customer_id,
        segment=customer.segment,
        preferred_channel=customer.preferred_channel,
        customer_since=customer.customer_since,
        first_seen_at=customer.first_seen_at,
        relationship_start=relationship_start(customer.customer_since, customer.first_seen_at),
    )


class CareDirectory:
    """The customers as care reads them (`care.service.CustomerDirectory`), handed to care's
    timer by the service root: care never imports customers, customers re-plan care."""

    async def recipient(self, session: AsyncSession, customer_id: str) -> Recipient | None:
        """The customer as the read model holds them now; None when unknown."""
        customer = await repository.get(session, customer_id)
        return None if customer is None else _recipient(customer)

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
        key: tuple[date | datetime, str] | None = None
        if after is not None:
            anchor = after.first_seen_at if since_from is None else after.customer_since
            if anchor is None:
                raise ValueError("a tenure range is paged after a customer with a tenure start")
            key = (anchor, after.customer_id)
        found = await repository.anchored_in(
            session,
            segments=segments,
            since_from=since_from,
            since_to=since_to,
            seen_from=seen_from,
            seen_to=seen_to,
            after=key,
            limit=limit,
        )
        return [_recipient(c) for c in found]


@dataclass(frozen=True)
class Goal:
    """One segment goal as measured now (SPEC §5)."""

    value: float | None
    target: float
    cohort: int
    reached: int | None


@dataclass(frozen=True)
class SegmentsView:
    """Customers per segment now, at the end of recent weeks, and the segment goals."""

    now: dict[str, int]
    weeks: list[tuple[str, datetime, dict[str, int]]]
    window_from: datetime
    activation: Goal
    high_value_satisfaction: Goal
    churn_recovery: Goal


async def segments_view(
    session: AsyncSession, *, settings: RetrospectiveSettings, now: datetime, weeks: int
) -> SegmentsView:
    """Counts per segment now and at the end of each of the last `weeks` report weeks (each
    customer in the segment of their latest change before the week ended), and the goals."""
    zone = settings.report_zone
    local = now.astimezone(zone)
    this_monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time.min, tzinfo=zone)
    ends = [this_monday - timedelta(days=7 * i) for i in range(weeks)]
    counts = await repository.counts_at(session, ends)
    trend = []
    for end in reversed(ends):
        year, week, _ = (end - timedelta(days=7)).date().isocalendar()
        trend.append((f"{year:04d}-W{week:02d}", end, _all_segments(counts.get(end, {}))))
    window_from = now - timedelta(days=settings.goal_window_days)
    # New customers' 30-day activation: of the customers who became `new` in the window and whose
    # first 30 days of relationship are over, the share with a customer interaction (a ticket they
    # reported, a message, a confirmation, a survey answer) within 30 days of their tenure start.
    active = await repository.activation(
        session, entered_from=window_from, matured_by=now.date(), within_days=settings.goal_activation_days
    )
    # High-value satisfaction: the average 0–100 satisfaction of the answers given in the window
    # by the customers high-value now.
    answers, average = await repository.segment_satisfaction(session, segment="high_value", since=window_from)
    # Churn-risk recovery: of the customers who entered churn_risk in the window, the share who
    # later left it for any other segment.
    recovered = await repository.recovery(session, entered_from=window_from)
    return SegmentsView(
        now=_all_segments(await repository.counts_now(session)),
        weeks=trend,
        window_from=window_from,
        activation=Goal(
            value=percent(active.reached, active.cohort),
            target=settings.goal_activation_pct,
            cohort=active.cohort,
            reached=active.reached,
        ),
        high_value_satisfaction=Goal(
            value=rounded(average), target=settings.goal_high_value_satisfaction, cohort=answers, reached=None
        ),
        churn_recovery=Goal(
            value=percent(recovered.reached, recovered.cohort),
            target=settings.goal_churn_recovery_pct,
            cohort=recovered.cohort,
            reached=recovered.reached,
        ),
    )


def _all_segments(counts: dict[str, int]) -> dict[str, int]:
    """Every segment, zero when nobody is in it."""
    return {segment.value: counts.get(segment.value, 0) for segment in Segment}
