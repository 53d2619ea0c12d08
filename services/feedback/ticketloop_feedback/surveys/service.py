"""The rules of surveys: scheduling each kind, sending when due, reminding once, withdrawing,
answering against the template version sent (templates are their own feature). Every change
writes its events to the outbox in the same transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.db import audit
from ticketloop_feedback.keys import service as keys
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import repository
from ticketloop_feedback.surveys.domain import (
    CANCELLED_REOPENED,
    CANCELLED_SEGMENT_LEFT,
    HIGH_VALUE_SEGMENT,
    NEW_SEGMENT,
    ONBOARDING_PERIOD,
    RETRY_AFTER_FAILURE,
    Answer,
    AnswerValue,
    InvalidAnswer,
    LowScoreThresholds,
    Quarter,
    SurveyNotFound,
    SurveyStatus,
    delivery_channel,
    first_cooperation,
    is_token_shaped,
    low_score_reasons,
    next_quarter,
    onboarding_survey_due,
    quarter_named,
    quarter_of,
    refusal,
    resolution_is_stale,
    split_texts,
    status_at,
    texts_field,
    ticket_survey_due,
    validate_answer,
    with_texts,
)
from ticketloop_feedback.surveys.models import Customer, Survey
from ticketloop_feedback.templates import service as templates
from ticketloop_feedback.templates.domain import CSAT, NPS, TEMPLATE_FOR_KIND, Template
from ticketloop_feedback.unit import FeedbackUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.bearer import bearer_digest, new_bearer
from ticketloop_shared.events import (
    CustomerErasedData,
    CustomerSegmentChangedData,
    Dimension,
    Envelope,
    FeedbackReceivedV2Data,
    LowScoreData,
    SurveyCancelledData,
    SurveyKind,
    SurveyRemindedData,
    SurveySentV2Data,
    TicketOrigin,
    TicketReopenedData,
    TicketResolvedData,
)


def _subject(survey: Survey) -> str | uuid.UUID:
    """A ticket survey's events are about its ticket; a relationship survey's about its customer."""
    return survey.ticket_id or survey.customer_id


async def pinned_template(session: AsyncSession, survey: Survey) -> Template:
    """The template version the survey was sent with."""
    if survey.template_version is None:
        raise SurveyNotFound("this survey has not been sent")
    pinned = await templates.pinned(session, survey.template_id, survey.template_version)
    if pinned is None:  # versions are never deleted
        raise RuntimeError(f"survey {survey.id} is pinned to a missing template version")
    return pinned


# --- scheduling -------------------------------------------------------------------------------


async def _schedule(
    uow: FeedbackUnit, *, kind: SurveyKind, customer_id: str, due_at: datetime, **values: Any
) -> Survey | None:
    """Insert a survey due at `due_at`; None when one exists for the same resolution or period."""
    return await repository.schedule(
        uow.session,
        kind=kind.value,
        template_id=TEMPLATE_FOR_KIND[kind],
        customer_id=customer_id,
        created_at=uow.now(),
        due_at=due_at,
        expires_at=due_at + timedelta(days=uow.settings.survey_ttl_days),
        **values,
    )


async def schedule_ticket_survey(uow: FeedbackUnit, *, ticket: TicketResolvedData) -> Survey | None:
    """Schedule the survey of a resolution, due the survey delay after it (a care contact is not
    surveyed). A redelivered resolution finds its survey and writes nothing; one the ticket was
    reopened after is not surveyed; a later resolution withdraws the survey of the one before it
    (the ticket was reopened in between). Sent at once when already due."""
    if ticket.origin is TicketOrigin.CARE:
        return None
    session = uow.session
    if resolution_is_stale(
        ticket.resolved_at, last_reopened_at=await repository.last_reopen(session, ticket.ticket_id)
    ):
        return None
    survey = await _schedule(
        uow,
        kind=SurveyKind.TICKET,
        customer_id=ticket.customer_id,
        due_at=ticket_survey_due(ticket.resolved_at, delay=uow.settings.ticket_survey_delay),
        ticket_id=ticket.ticket_id,
        ticket_number=ticket.number,
        category=ticket.category,
        resolved_at=ticket.resolved_at,
        channel=ticket.customer_preferred_channel,
    )
    if survey is None:
        return None
    for older in await repository.cancel_ticket_surveys(
        session,
        ticket_id=ticket.ticket_id,
        resolved_until=ticket.resolved_at,
        inclusive=False,
        now=uow.now(),
        reason=CANCELLED_REOPENED,
    ):
        _announce_cancelled(uow, older)
    if survey.due_at <= uow.now():
        await _go_out(uow, survey)
    return survey


async def withdraw_for_reopen(uow: FeedbackUnit, *, reopened: TicketReopenedData) -> list[Survey]:
    """A reopened ticket was not solved: withdraw the survey of each resolution before the reopen
    that is not answered yet (scheduled or out). The next resolution gets a fresh one."""
    session = uow.session
    await repository.record_reopen(session, ticket_id=reopened.ticket_id, reopened_at=reopened.reopened_at)
    withdrawn = await repository.cancel_ticket_surveys(
        session,
        ticket_id=reopened.ticket_id,
        resolved_until=reopened.reopened_at,
        inclusive=True,
        now=uow.now(),
        reason=CANCELLED_REOPENED,
    )
    for survey in withdrawn:
        _announce_cancelled(uow, survey)
    return withdrawn


async def record_segments(
    uow: FeedbackUnit, changes: Sequence[tuple[CustomerSegmentChangedData, Envelope | None]]
) -> None:
    """Keep each customer's latest segment and channel (an older announcement arriving late is
    ignored) and time their relationship surveys by it: a new customer's once, a week after the
    first cooperation; a high-value customer's at each quarter end, withdrawn if they leave.

    A run of announcements (each with the event that carried it, the cause of what it emits) is
    applied in a few statements: the segments in one, the new customers' onboarding surveys in
    one, the withdrawals in one. A customer announced twice in the run is applied in order, one
    round per repeat."""
    for run in _rounds(changes, key=lambda change: change[0].customer_id):
        await _record_segment_round(uow, run)


async def _record_segment_round(
    uow: FeedbackUnit, run: Sequence[tuple[CustomerSegmentChangedData, Envelope | None]]
) -> None:
    session, settings = uow.session, uow.settings
    newer = await repository.record_segments(
        session,
        [
            {
                "customer_id": change.customer_id,
                "segment": change.segment,
                "changed_at": change.changed_at,
                "customer_since": change.customer_since,
                "first_seen_at": change.first_seen_at,
                "preferred_channel": change.preferred_channel,
            }
            for change, _ in run
        ],
    )
    applied = [(change, cause) for change, cause in run if change.customer_id in newer]
    if not applied:
        return
    onboarding = [(change, cause) for change, cause in applied if change.segment == NEW_SEGMENT]
    if onboarding:
        now = uow.now()
        rows = []
        for change, _ in onboarding:
            began = first_cooperation(
                customer_since=change.customer_since,
                first_seen_at=change.first_seen_at,
                fallback=change.changed_at,
                zone=settings.zone,
            )
            due_at = onboarding_survey_due(began, delay=settings.onboarding_survey_delay)
            rows.append(
                {
                    "kind": SurveyKind.ONBOARDING.value,
                    "template_id": TEMPLATE_FOR_KIND[SurveyKind.ONBOARDING],
                    "customer_id": change.customer_id,
                    "created_at": now,
                    "due_at": due_at,
                    "expires_at": due_at + timedelta(days=settings.survey_ttl_days),
                    "period": ONBOARDING_PERIOD,
                }
            )
        scheduled = {s.customer_id: s for s in await repository.schedule_many(session, rows)}
        for change, cause in onboarding:
            with uow.caused_by(cause):
                await _send_if_due(uow, scheduled.get(change.customer_id))
    leaving: dict[str, Envelope | None] = {}
    for change, cause in applied:
        if change.segment == HIGH_VALUE_SEGMENT:
            with uow.caused_by(cause):
                await _schedule_quarterly(uow, change.customer_id, quarter_of(change.changed_at, settings.zone))
        else:
            leaving[change.customer_id] = cause
    if leaving:
        for survey in await repository.cancel_scheduled_of(
            session, customer_ids=list(leaving), kind=SurveyKind.QUARTERLY, now=uow.now(), reason=CANCELLED_SEGMENT_LEFT
        ):
            with uow.caused_by(leaving[survey.customer_id]):
                _announce_cancelled(uow, survey)


T = TypeVar("T")


def _rounds(items: Sequence[T], *, key: Callable[[T], Hashable]) -> list[list[T]]:
    """`items` in rounds where each key appears at most once: a key's n-th item is in round n,
    so applying the rounds in order applies each key's items in their order."""
    rounds: list[list[T]] = []
    seen: dict[Hashable, int] = {}
    for item in items:
        k = key(item)
        n = seen.get(k, 0)
        seen[k] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(item)
    return rounds


async def _schedule_quarterly(uow: FeedbackUnit, customer_id: str, quarter: Quarter) -> None:
    survey = await _schedule(
        uow, kind=SurveyKind.QUARTERLY, customer_id=customer_id, due_at=quarter.ends_at, period=quarter.label
    )
    if survey is None:  # back in the segment within the quarter: the withdrawn survey is due again
        survey = await repository.reinstate(
            uow.session, customer_id=customer_id, kind=SurveyKind.QUARTERLY, period=quarter.label
        )
    await _send_if_due(uow, survey)


async def _send_if_due(uow: FeedbackUnit, survey: Survey | None) -> None:
    if survey is not None and survey.due_at <= uow.now():
        await _go_out(uow, survey)


def _announce_cancelled(uow: FeedbackUnit, survey: Survey) -> None:
    assert survey.cancelled_at is not None and survey.cancel_reason is not None
    uow.emit(
        SurveyCancelledData(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            kind=SurveyKind(survey.kind),
            reason=survey.cancel_reason,
            cancelled_at=survey.cancelled_at,
        ),
        subject=_subject(survey),
    )


# --- the timer --------------------------------------------------------------------------------


async def _go_out(uow: FeedbackUnit, survey: Survey) -> None:
    """Send a due survey: pin the template's current version, settle the channel, open the link
    window, announce it; a quarterly survey first checks the customer is still high-value and
    schedules the next quarter's."""
    session, now, settings = uow.session, uow.now(), uow.settings
    kind = SurveyKind(survey.kind)
    customer = await repository.customer(session, survey.customer_id)
    if kind is SurveyKind.QUARTERLY:
        if customer is None or customer.segment != HIGH_VALUE_SEGMENT:
            survey.cancelled_at, survey.cancel_reason = now, CANCELLED_SEGMENT_LEFT
            await session.flush()
            _announce_cancelled(uow, survey)
            return
        assert survey.period is not None
        await _schedule_quarterly(
            uow, survey.customer_id, next_quarter(quarter_named(survey.period, settings.zone), settings.zone)
        )
    version = await templates.current_version(session, survey.template_id)
    if version is None:
        raise RuntimeError(f"template {survey.template_id!r} is missing")
    survey.channel = _channel(kind, survey.channel, customer)
    survey.template_version = version
    survey.sent_at = now
    survey.expires_at = now + timedelta(days=settings.survey_ttl_days)
    await session.flush()
    uow.emit(
        SurveySentV2Data(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            expires_at=survey.expires_at,
            kind=kind,
            template_id=survey.template_id,
            channel=survey.channel,
            sent_at=now,
        ),
        subject=_subject(survey),
    )


def _channel(kind: SurveyKind, known: str | None, customer: Customer | None) -> str | None:
    return delivery_channel(kind, known=known, latest=customer.preferred_channel if customer else None)


async def send_and_remind(uow: FeedbackUnit, *, limit: int) -> tuple[int, bool]:
    """The timer's batch: send every survey due by now, then remind every one unanswered past the
    reminder delay, each once. Rows are locked with SKIP LOCKED, so replicas share the work and
    none is sent or reminded twice; each survey is handled in its own savepoint, so one that fails
    is logged and retried later while the rest commit (STYLE rule 14). How many surveys went out
    or were reminded, and whether a batch was full (work left behind)."""
    session, now = uow.session, uow.now()
    due = await repository.lock_due(session, now=now, limit=limit)
    sent = 0
    for survey in due:
        survey_id = survey.id
        async with uow.isolated("sending a survey", survey_id=survey_id) as item:
            await _go_out(uow, survey)
        if item.failed:
            await repository.postpone(session, survey_id, until=now + RETRY_AFTER_FAILURE)
        else:
            sent += 1
    unreminded = await repository.lock_unreminded(
        session, sent_before=now - uow.settings.reminder_delay, now=now, limit=limit
    )
    reminded = 0
    for survey in unreminded:
        async with uow.isolated("reminding of a survey", survey_id=survey.id) as item:
            await _remind(uow, survey)
        if not item.failed:
            reminded += 1
    return sent + reminded, len(due) >= limit or len(unreminded) >= limit


async def _remind(uow: FeedbackUnit, survey: Survey) -> None:
    """The one reminder: the link goes back on the delivery list, announced."""
    now = uow.now()
    survey.reminded_at = now
    await uow.session.flush()
    uow.emit(
        SurveyRemindedData(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            kind=SurveyKind(survey.kind),
            channel=survey.channel,
            reminded_at=now,
            expires_at=survey.expires_at,
        ),
        subject=_subject(survey),
    )


async def next_due(session: AsyncSession, settings: FeedbackSettings) -> datetime | None:
    """The earliest instant the timer has work."""
    return await repository.next_due(session, reminder_delay=settings.reminder_delay)


# --- the link ---------------------------------------------------------------------------------


async def sent_survey(session: AsyncSession, token: str) -> Survey:
    """The survey behind a link (only a sent survey's link was ever given out), found by the
    digest of its token: the database keeps no token."""
    survey = await repository.by_token_hash(session, bearer_digest(token)) if is_token_shaped(token) else None
    if survey is None or survey.sent_at is None:
        raise SurveyNotFound("no survey behind this link")
    return survey


def status_of(survey: Survey, now: datetime) -> SurveyStatus:
    """Where the survey is now."""
    return status_at(
        sent_at=survey.sent_at,
        cancelled_at=survey.cancelled_at,
        answered_at=survey.answered_at,
        expires_at=survey.expires_at,
        now=now,
    )


def thresholds(settings: FeedbackSettings) -> LowScoreThresholds:
    """The low-score thresholds in force."""
    return LowScoreThresholds(
        csat=settings.low_score_csat_max, overall=settings.low_score_overall_max, nps=settings.low_score_nps_max
    )


async def answer(uow: FeedbackUnit, *, token: str, reply: Mapping[str, Any]) -> tuple[Survey, Template]:
    """Record the customer's one answer, checked against the template the survey was sent with,
    and announce its scores (never its texts); an answer at or under a low-score threshold is
    announced as `feedback.low_score` in the same transaction."""
    session, now = uow.session, uow.now()
    survey = await sent_survey(session, token)
    if status_of(survey, now) is not SurveyStatus.OPEN:
        await _refuse(session, token, now)
    template = await pinned_template(session, survey)
    checked = validate_answer(template, reply)
    if not isinstance(checked, Answer):
        first = checked[0]
        raise InvalidAnswer(
            f"the answer does not fit the survey: {first.question}: {first.msg}"
            + (f" (and {len(checked) - 1} more)" if len(checked) > 1 else ""),
            details=[p.as_detail() for p in checked],
        )
    stored, texts = split_texts(checked.values)
    sealed = None
    if texts:  # what the customer wrote is sealed with their own key before it is stored
        key = await keys.key_for_sealing(session, survey.customer_id, uow.settings)
        sealed = keys.seal_text(key, survey.customer_id, texts_field(survey.id), json.dumps(texts))
    recorded = await repository.record_answer(
        session,
        survey_id=survey.id,
        answers=stored,
        texts=sealed,
        csat=checked.score(CSAT),
        nps=checked.score(NPS),
        answered_at=now,
    )
    if recorded is None:
        await _refuse(session, token, now)
    _announce_answer(uow, recorded, checked, await repository.customer(session, recorded.customer_id))
    return recorded, template


def _announce_answer(uow: FeedbackUnit, survey: Survey, checked: Answer, customer: Customer | None) -> None:
    kind, now, subject = SurveyKind(survey.kind), uow.now(), _subject(survey)
    uow.emit(
        FeedbackReceivedV2Data(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            kind=kind,
            template_id=survey.template_id,
            csat=checked.score(CSAT),
            nps=checked.score(NPS),
            dimensions=checked.dimensions,
            has_comment=checked.has_text,
            contact_ok=checked.contact_ok,
            answered_at=now,
        ),
        subject=subject,
    )
    reasons = low_score_reasons(checked, thresholds(uow.settings))
    if reasons:
        uow.emit(
            LowScoreData(
                survey_id=survey.id,
                ticket_id=survey.ticket_id,
                customer_id=survey.customer_id,
                kind=kind,
                reasons=reasons,
                csat=checked.score(CSAT),
                overall=checked.dimensions.get(Dimension.OVERALL),
                nps=checked.score(NPS),
                category=survey.category,
                preferred_channel=_channel(kind, survey.channel, customer),
                answered_at=now,
            ),
            subject=subject,
        )


async def opened_answers(
    session: AsyncSession, surveys: Sequence[Survey], settings: FeedbackSettings
) -> dict[uuid.UUID, dict[str, AnswerValue]]:
    """The answers of these surveys as staff read them, by survey: the texts opened with their
    customers' keys (one lookup for all), `[erased]` where a customer was erased."""
    answered = [s for s in surveys if s.answers is not None]
    key_of = await keys.keys_for_opening(session, [s.customer_id for s in answered if s.texts is not None], settings)
    return {
        s.id: with_texts(s.answers or {}, _texts(key_of.get(s.customer_id), s), erased=keys.ERASED) for s in answered
    }


def _texts(key: bytes | None, survey: Survey) -> dict[str, str] | None:
    """A survey's texts by question id; None when they can no longer be read."""
    if survey.texts is None:
        return {}
    opened = keys.open_text(key, survey.customer_id, texts_field(survey.id), survey.texts)
    return None if opened is None else dict(json.loads(opened))


async def _refuse(session: AsyncSession, token: str, now: datetime) -> NoReturn:
    survey = await sent_survey(session, token)
    # None is unreachable: the UPDATE only misses an open survey if another answer committed first.
    raise refusal(status_of(survey, now), expires_at=survey.expires_at, cancel_reason=survey.cancel_reason) or (
        RuntimeError(f"survey {survey.id} is open but refused an answer")
    )


# --- staff and delivery -----------------------------------------------------------------------


async def ticket_survey(session: AsyncSession, *, ticket_id: uuid.UUID) -> Survey:
    """The survey of a ticket's latest resolution."""
    survey = await repository.latest_of_ticket(session, ticket_id)
    if survey is None:
        raise SurveyNotFound(f"ticket {ticket_id} has no survey (yet)")
    return survey


async def search(
    session: AsyncSession,
    *,
    customer_id: str | None,
    kind: SurveyKind | None,
    status: SurveyStatus | None,
    now: datetime,
    limit: int,
    after: uuid.UUID | None,
    department_id: str | None = None,
) -> Sequence[Survey]:
    """Surveys matching every filter given, oldest first from the cursor; with a department,
    only the surveys of the tickets it holds (a relationship survey is about a customer, not a
    ticket of any one department: only an unscoped caller, an admin, lists those)."""
    return await repository.search(
        session,
        customer_id=customer_id,
        kind=kind,
        status=status,
        now=now,
        limit=limit,
        after=after,
        department_id=department_id,
    )


async def record_placements(uow: FeedbackUnit, placements: Sequence[tuple[uuid.UUID, str, datetime]]) -> None:
    """Routing placed tickets in departments (`(ticket_id, department_id, at)`, in the order
    announced): their staff may now read the tickets' surveys. The latest placement of a ticket
    wins, whatever order the events arrive in (of two at the same instant, the one announced
    last), so a run keeps each ticket's latest and writes them in one statement."""
    latest: dict[uuid.UUID, tuple[uuid.UUID, str, datetime]] = {}
    for placement in placements:
        kept = latest.get(placement[0])
        if kept is None or placement[2] >= kept[2]:
            latest[placement[0]] = placement
    await repository.place_many(uow.session, list(latest.values()))


async def department_of(session: AsyncSession, *, ticket_id: uuid.UUID) -> str | None:
    """The department holding the ticket, or None while feedback has not heard of its placement."""
    return await repository.department_of(session, ticket_id)


async def templates_of(session: AsyncSession, surveys: Sequence[Survey]) -> dict[tuple[str, int], Template]:
    """The pinned templates of the answered surveys, each loaded once."""
    answered = {
        (s.template_id, s.template_version): s
        for s in surveys
        if s.answered_at is not None and s.template_version is not None
    }
    return {key: await pinned_template(session, survey) for key, survey in answered.items()}


@dataclass(frozen=True)
class IssuedLink:
    """A sent survey and the token of the link just handed out for it (the only moment the token
    exists in clear: only its digest is stored)."""

    survey: Survey
    token: str


async def _issue_link(uow: FeedbackUnit, survey: Survey, by: Principal) -> IssuedLink:
    """Mint a link for a sent survey: a new token, stored as its digest, audited (never the token
    itself). Earlier links of the survey stay valid: the customer may open any mail they got."""
    token = new_bearer()
    await repository.add_link(uow.session, survey_id=survey.id, token_hash=bearer_digest(token), issued_at=uow.now())
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="survey.link_issued",
        subject=f"survey:{survey.id}",
        details={"ticket_id": str(survey.ticket_id) if survey.ticket_id else None, "kind": survey.kind},
    )
    return IssuedLink(survey=survey, token=token)


async def pending_deliveries(
    uow: FeedbackUnit, *, by: Principal, limit: int, after: uuid.UUID | None
) -> tuple[list[IssuedLink], uuid.UUID | None]:
    """Sent surveys whose link (or reminder) is still to deliver, oldest first, each with a link
    minted for this hand-out (the database keeps only digests, so a link cannot be read back: a
    delivery system asking again gets a new one, and both work)."""
    surveys = await repository.undelivered(uow.session, limit=limit, after=after, now=uow.now())
    issued = [await _issue_link(uow, survey, by) for survey in surveys]
    return issued, (surveys[-1].id if len(surveys) == limit else None)


async def delivery_of(uow: FeedbackUnit, *, by: Principal, survey_id: uuid.UUID) -> IssuedLink:
    """One sent survey whose link can still be answered, with a link minted for a delivery system
    that sends it on its own schedule (a channel's webhook): stored and audited like a link of
    the list. Unknown or not sent yet: SurveyNotFound; answered, withdrawn or expired: the refusal
    the customer would get."""
    survey = await repository.by_id(uow.session, survey_id)
    if survey is None or survey.sent_at is None:
        raise SurveyNotFound(f"no survey {survey_id} has been sent")
    refused = refusal(status_of(survey, uow.now()), expires_at=survey.expires_at, cancel_reason=survey.cancel_reason)
    if refused is not None:
        raise refused
    return await _issue_link(uow, survey, by)


async def mark_delivered(uow: FeedbackUnit, *, survey_id: uuid.UUID) -> Survey:
    """The link (or its reminder) reached the customer; a repeat keeps the first time."""
    survey = await repository.mark_delivered(uow.session, survey_id=survey_id, now=uow.now())
    if survey is None:
        raise SurveyNotFound(f"no survey {survey_id} has been sent")
    return survey


# --- erasure and sealing ----------------------------------------------------------------------


async def erase_customer(uow: FeedbackUnit, *, erased: CustomerErasedData) -> None:
    """Forget what the customer wrote in every survey: destroy their key (every sealed text
    becomes unreadable) and overwrite the texts themselves, sealed or not; scores, timing and
    the surveys stay. Recorded in the audit log; a redelivered erasure finds nothing left."""
    session = uow.session
    destroyed = await keys.destroy_key(session, erased.customer_id)
    blanked = await repository.erase_texts(session, erased.customer_id, erased=keys.ERASED_VALUE)
    await audit_log.record_as(
        session,
        audit,
        actor="intake",
        role="system",
        action="customer.personal_data_erased",
        subject=f"customer:{erased.customer_id}",
        details={"key_destroyed": destroyed, "texts_erased": blanked, "erased_at": erased.erased_at.isoformat()},
    )


async def seal_clear_texts(uow: FeedbackUnit, *, limit: int) -> tuple[int, bool]:
    """Seal, in place, texts answered before sealing began (stored unsealed by migration 0008);
    how many, and whether the batch was full (more may be left)."""
    session = uow.session
    rows = await repository.lock_clear_texts(session, limit=limit)
    for survey_id, customer_id, stored in rows:
        clear = keys.open_text(None, customer_id, texts_field(survey_id), stored)
        assert clear is not None  # an unsealed value opens without a key
        key = await keys.key_for_sealing(session, customer_id, uow.settings)
        await repository.set_texts(session, survey_id, keys.seal_text(key, customer_id, texts_field(survey_id), clear))
    return len(rows), len(rows) >= limit


async def texts_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """Retention's dry run: answers given before `cutoff` whose free texts are still kept."""
    return await repository.texts_due(session, cutoff, erased=keys.ERASED_VALUE)


async def erase_old_texts(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Retention: erase in place the free texts (comments, suggestions, NPS reasons) of at most
    `limit` answers given before `cutoff`; the scores stay, so reports still count them. How many."""
    return await repository.erase_old_texts(session, cutoff, erased=keys.ERASED_VALUE, limit=limit)
