"""`create_*` builders of events, as the producing services emit them: one module covering every
event type, stamped by the producers' own `build_event` (so correlation and causation follow
the same rule as in production)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from ticketloop_shared.events import (
    AssignmentCandidate,
    AssignmentReason,
    CareTaskDue,
    CareTaskDueData,
    CareTaskKind,
    CareWaitExceeded,
    CareWaitExceededData,
    ClockKind,
    ClockOutcome,
    ClockView,
    CustomerErased,
    CustomerErasedData,
    CustomerSegmentChanged,
    CustomerSegmentChangedData,
    Envelope,
    EscalationTarget,
    FeedbackLowScore,
    FeedbackReceived,
    FeedbackReceivedData,
    FeedbackReceivedV2,
    FeedbackReceivedV2Data,
    LowScoreData,
    OrderRecorded,
    OrderRecordedData,
    OrderStatus,
    RectificationClosed,
    RectificationClosedData,
    RectificationOpened,
    RectificationOpenedData,
    SlaBreached,
    SlaBreachedData,
    SlaCalendarChanged,
    SlaCalendarChangedData,
    SlaClocksChanged,
    SlaClocksChangedData,
    SlaEscalated,
    SlaEscalatedData,
    SlaMet,
    SlaMetData,
    SlaPolicyChanged,
    SlaPolicyChangedData,
    SlaTargetDefinition,
    SlaWarning,
    SlaWarningData,
    StaffTokenRevoked,
    SurveyCancelled,
    SurveyCancelledData,
    SurveyKind,
    SurveyReminded,
    SurveyRemindedData,
    SurveySent,
    SurveySentData,
    SurveySentV2,
    SurveySentV2Data,
    TicketAcknowledged,
    TicketAcknowledgedData,
    TicketAssigned,
    TicketAssignedData,
    TicketClosed,
    TicketClosedData,
    TicketConnected,
    TicketConnectedData,
    TicketCreated,
    TicketCreatedData,
    TicketFollowedUp,
    TicketFollowedUpData,
    TicketMessageReceived,
    TicketMessageReceivedData,
    TicketPlanCommitted,
    TicketPlanCommittedData,
    TicketPriorityChanged,
    TicketPriorityChangedData,
    TicketQueued,
    TicketQueuedData,
    TicketReassigned,
    TicketReassignedData,
    TicketRecategorised,
    TicketRecategorisedData,
    TicketRef,
    TicketReopened,
    TicketReopenedData,
    TicketRepeatContact,
    TicketRepeatContactData,
    TicketReplied,
    TicketRepliedData,
    TicketResolved,
    TicketResolvedData,
    TicketStatusChanged,
    TicketStatusChangedData,
    TicketUpdated,
    TicketUpdatedData,
    TokenRevokedData,
    WebhookEndpointDisabled,
    WebhookEndpointDisabledData,
)
from ticketloop_shared.events.catalog import Payload
from ticketloop_shared.ids import new_id
from ticketloop_shared.unit_of_work import build_event

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: ISO week 2026-W48
E = TypeVar("E", bound=Envelope)


def _event(kind: type[E], data: Payload, *, source: str, time: datetime, cause: Envelope | None = None) -> E:
    event = build_event(data, source=source, time=time, cause=cause)
    assert isinstance(event, kind)
    return event


def ticket_ref(**overrides: Any) -> dict[str, Any]:
    """The TicketRef fields of a fresh ticket."""
    ref: dict[str, Any] = {
        "ticket_id": new_id(),
        "number": f"T20261123{uuid.uuid4().int % 1_000_000:06d}",
        "channel": "web",
        "category": "billing",
        "urgency": "normal",
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "created_at": T0,
    }
    ref.update(overrides)
    return ref


@dataclass
class Story:
    """One ticket, told as intake, routing, sla and feedback would emit its events."""

    category: str = "billing"
    created_at: datetime = T0
    channel: str = "web"
    ticket_id: uuid.UUID = field(default_factory=new_id)
    customer_id: str = ""
    number: str = ""

    def __post_init__(self) -> None:
        self.customer_id = self.customer_id or f"cust-{self.ticket_id.hex[:6]}"
        self.number = self.number or f"T{self.created_at:%Y%m%d}{self.ticket_id.int % 1_000_000:06d}"

    def ref(self) -> dict[str, Any]:
        """The TicketRef fields every ticket event repeats."""
        return {
            "ticket_id": self.ticket_id,
            "number": self.number,
            "channel": self.channel,
            "category": self.category,
            "urgency": "normal",
            "customer_id": self.customer_id,
            "created_at": self.created_at,
        }

    def created(self, *, need: str = "refund", **extra: Any) -> TicketCreated:
        """`ticket.created` from intake (`extra`: more of its fields, e.g. `customer_annual_spend`,
        `required_skills`)."""
        data = TicketCreatedData(**self.ref(), need=need, **extra)
        return _event(TicketCreated, data, source="intake", time=self.created_at)

    def assigned(
        self,
        when: datetime,
        agent: str = "agent-1",
        *,
        department: str = "after_sales",
        cause: Envelope | None = None,
    ) -> TicketAssigned:
        """`ticket.assigned` from routing (caused by `ticket.created`)."""
        data = TicketAssignedData(
            ticket_id=self.ticket_id,
            department_id=department,
            department_name="After-sales",
            agent_id=agent,
            agent_name=agent.title(),
            assigned_at=when,
        )
        return _event(TicketAssigned, data, source="routing", time=when, cause=cause or self.created())

    def reason(self, agent: str = "agent-1") -> AssignmentReason:
        """Why routing chose `agent`, as routing explains it."""
        return AssignmentReason(
            strategy="least_loaded",
            rule="fewest open tickets among available agents",
            score=10.0,
            candidates=[AssignmentCandidate(agent_id=agent, presence="available", open_tickets=0, eligible=True)],
        )

    def queued(self, when: datetime) -> TicketQueued:
        """`ticket.queued` from routing: nobody could take the ticket at `when`."""
        data = TicketQueuedData(
            ticket_id=self.ticket_id,
            department_id="after_sales",
            department_name="After-sales",
            score=10.0,
            queued_at=when,
            reason=self.reason(),
        )
        return _event(TicketQueued, data, source="routing", time=when, cause=self.created())

    def reassigned(self, when: datetime, agent: str = "agent-2", *, previous: str = "agent-1") -> TicketReassigned:
        """`ticket.reassigned` from routing: the ticket moved from `previous` to `agent`."""
        data = TicketReassignedData(
            ticket_id=self.ticket_id,
            department_id="after_sales",
            department_name="After-sales",
            agent_id=agent,
            agent_name=agent.title(),
            assigned_at=when,
            reason=self.reason(agent),
            previous_agent_id=previous,
        )
        return _event(TicketReassigned, data, source="routing", time=when)

    def status_changed(self, when: datetime, old: str, new: str, *, action: str) -> TicketStatusChanged:
        """`ticket.status_changed` from intake."""
        data = TicketStatusChangedData(
            **self.ref(), from_status=old, to_status=new, action=action, actor="agent:agent-1", changed_at=when
        )
        return _event(TicketStatusChanged, data, source="intake", time=when)

    def message_received(self, when: datetime, *, via: str = "channel") -> TicketMessageReceived:
        """`ticket.message_received` from intake: the customer wrote again."""
        data = TicketMessageReceivedData(**self.ref(), message_id=new_id(), received_at=when, via=via)
        return _event(TicketMessageReceived, data, source="intake", time=when)

    def plan_committed(self, when: datetime, *, by: timedelta = timedelta(days=1)) -> TicketPlanCommitted:
        """`ticket.plan_committed` from intake: solved within `by` of `when`, the owner says."""
        data = TicketPlanCommittedData(
            **self.ref(), agent_id="agent-1", committed_at=when, committed_resolution_at=when + by
        )
        return _event(TicketPlanCommitted, data, source="intake", time=when)

    def updated(self, when: datetime) -> TicketUpdated:
        """`ticket.updated` from intake: a progress update to the customer."""
        data = TicketUpdatedData(**self.ref(), message_id=new_id(), agent_id="agent-1", updated_at=when)
        return _event(TicketUpdated, data, source="intake", time=when)

    def priority_changed(self, when: datetime, *, urgency: str = "urgent") -> TicketPriorityChanged:
        """`ticket.priority_changed` from intake (normal → `urgency`)."""
        ref = {**self.ref(), "urgency": urgency}
        data = TicketPriorityChangedData(**ref, previous_urgency="normal", changed_by="agent:agent-1", changed_at=when)
        return _event(TicketPriorityChanged, data, source="intake", time=when)

    def recategorised(self, when: datetime, *, category: str = "logistics_delay") -> TicketRecategorised:
        """`ticket.recategorised` from intake (this story's category → `category`)."""
        ref = {**self.ref(), "category": category}
        data = TicketRecategorisedData(
            **ref, previous_category=self.category, changed_by="agent:agent-1", changed_at=when
        )
        return _event(TicketRecategorised, data, source="intake", time=when)

    def followed_up(self, when: datetime, *, resolved_at: datetime) -> TicketFollowedUp:
        """`ticket.followed_up` from intake."""
        data = TicketFollowedUpData(**self.ref(), agent_id="agent-1", followed_up_at=when, resolved_at=resolved_at)
        return _event(TicketFollowedUp, data, source="intake", time=when)

    def reopened(self, when: datetime, *, reason: str = "customer_message") -> TicketReopened:
        """`ticket.reopened` from intake."""
        data = TicketReopenedData(
            **self.ref(), reopened_at=when, previous_status="resolved", reason=reason, actor="customer"
        )
        return _event(TicketReopened, data, source="intake", time=when)

    def closed(self, when: datetime, *, resolved_at: datetime, automatic: bool = False) -> TicketClosed:
        """`ticket.closed` from intake: confirmed by the customer (or by itself)."""
        data = TicketClosedData(
            **self.ref(),
            closed_at=when,
            resolved_at=resolved_at,
            automatic=automatic,
            actor="system" if automatic else "customer",
        )
        return _event(TicketClosed, data, source="intake", time=when)

    def acknowledged(self, when: datetime, *, via: str = "webhook") -> TicketAcknowledged:
        """`ticket.acknowledged` from intake: the channel's endpoint confirmed the acknowledgement."""
        data = TicketAcknowledgedData(**self.ref(), acknowledged_at=when, via=via)
        return _event(TicketAcknowledged, data, source="intake", time=when)

    def connected(self, when: datetime, *, agent: str = "agent-1") -> TicketConnected:
        """`ticket.connected` from intake: the owner is connected with the customer waiting live."""
        data = TicketConnectedData(**self.ref(), connected_at=when, agent_id=agent)
        return _event(TicketConnected, data, source="intake", time=when)

    def repeat_contact(self, when: datetime, *, reopened: bool = False) -> TicketRepeatContact:
        """`ticket.repeat_contact` from intake: the customer reported this problem again."""
        data = TicketRepeatContactData(
            **self.ref(), contacted_at=when, via_channel=self.channel, reopened=reopened, message_id=new_id()
        )
        return _event(TicketRepeatContact, data, source="intake", time=when)

    def replied(self, when: datetime, *, first: bool = True) -> TicketReplied:
        """`ticket.replied` from intake."""
        data = TicketRepliedData(
            **self.ref(), message_id=new_id(), agent_id="agent-1", replied_at=when, first_response=first
        )
        return _event(TicketReplied, data, source="intake", time=when)

    def resolved(self, when: datetime, *, first_response_at: datetime | None = None, **extra: Any) -> TicketResolved:
        """`ticket.resolved` from intake (`extra`: more of its fields, e.g. `origin`, `origin_id`)."""
        data = TicketResolvedData(
            **self.ref(), resolved_at=when, resolved_by="agent-1", first_response_at=first_response_at, **extra
        )
        return _event(TicketResolved, data, source="intake", time=when)

    def _clock(self, clock: ClockKind) -> dict[str, Any]:
        due = self.created_at + timedelta(minutes=15 if clock is ClockKind.FIRST_RESPONSE else 120)
        return {"ticket_id": self.ticket_id, "clock": clock, "started_at": self.created_at, "due_at": due}

    def met(self, clock: ClockKind, when: datetime) -> SlaMet:
        """`sla.met` from sla: the clock stopped at `when`."""
        data = SlaMetData(**self._clock(clock), stopped_at=when)
        return _event(SlaMet, data, source="sla", time=when)

    def breached(self, clock: ClockKind, when: datetime) -> SlaBreached:
        """`sla.breached` from sla's sweep: the deadline passed at `when`."""
        data = SlaBreachedData(**self._clock(clock), breached_at=when)
        return _event(SlaBreached, data, source="sla", time=when)

    def warning(self, clock: ClockKind, when: datetime, *, share: float = 0.75) -> SlaWarning:
        """`sla.warning` from sla's timer: `share` of the target was used by `when`."""
        data = SlaWarningData(**self._clock(clock), share=share)
        return _event(SlaWarning, data, source="sla", time=when)

    def escalated(
        self,
        clock: ClockKind,
        when: datetime,
        *,
        level: int = 2,
        notify: EscalationTarget = EscalationTarget.SUPERVISOR,
    ) -> SlaEscalated:
        """`sla.escalated` from sla's timer: step `level` of the policy's chain."""
        data = SlaEscalatedData(
            **self._clock(clock), level=level, notify=notify, share=1.0, department_id="after_sales"
        )
        return _event(SlaEscalated, data, source="sla", time=when)

    def clocks_changed(self, when: datetime, *, version: int = 1) -> SlaClocksChanged:
        """`sla.clocks_changed` from sla: the ticket's first-response and resolution clocks running."""
        clocks = [
            ClockView(
                clock=kind,
                cycle=1,
                status=ClockOutcome.RUNNING,
                started_at=self.created_at,
                due_at=self._clock(kind)["due_at"],
                target_seconds=(self._clock(kind)["due_at"] - self.created_at).total_seconds(),
            )
            for kind in (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION)
        ]
        data = SlaClocksChangedData(
            ticket_id=self.ticket_id,
            version=version,
            policy_id="default",
            policy_version=1,
            changed_at=when,
            clocks=clocks,
        )
        return _event(SlaClocksChanged, data, source="sla", time=when)

    def segment_changed(self, when: datetime, *, segment: str = "high_value") -> CustomerSegmentChanged:
        """`customer.segment_changed` about this ticket's customer."""
        data = CustomerSegmentChangedData(
            customer_id=self.customer_id,
            segment=segment,
            previous_segment="potential",
            reasons=["annual spend"],
            changed_at=when,
        )
        event = build_event(data, source="retrospective", time=when, subject=self.customer_id)
        assert isinstance(event, CustomerSegmentChanged)
        return event

    def erased(self, when: datetime) -> CustomerErased:
        """`customer.erased` from intake: this ticket's customer's personal data was erased."""
        event = build_event(
            CustomerErasedData(customer_id=self.customer_id, erased_at=when),
            source="intake",
            time=when,
            subject=self.customer_id,
        )
        assert isinstance(event, CustomerErased)
        return event

    def survey_sent(self, when: datetime) -> SurveySentV2:
        """`feedback.survey_sent.v2` from feedback (caused by `ticket.resolved`)."""
        data = SurveySentV2Data(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            expires_at=when + timedelta(days=14),
        )
        return _event(SurveySentV2, data, source="feedback", time=when, cause=self.resolved(when))

    def survey_sent_v1(self, when: datetime) -> SurveySent:
        """`feedback.survey_sent.v1`, as old outbox rows replayed from the retention window carry it."""
        data = SurveySentData(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            link=f"http://127.0.0.1:8004/v1/surveys/{uuid.uuid4().hex}",
            expires_at=when + timedelta(days=14),
        )
        return _event(SurveySent, data, source="feedback", time=when, cause=self.resolved(when))

    def answered(self, when: datetime, *, csat: int = 5, nps: int = 9) -> FeedbackReceived:
        """`feedback.received` from feedback."""
        data = FeedbackReceivedData(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            csat=csat,
            nps=nps,
            has_comment=False,
            answered_at=when,
        )
        return _event(FeedbackReceived, data, source="feedback", time=when)

    def answered_v2(
        self, when: datetime, *, csat: int | None = 5, kind: SurveyKind = SurveyKind.TICKET, **scores: Any
    ) -> FeedbackReceivedV2:
        """`feedback.received.v2` from feedback (`scores`: `nps`, `dimensions`…)."""
        data = FeedbackReceivedV2Data(
            survey_id=new_id(),
            ticket_id=self.ticket_id if kind is SurveyKind.TICKET else None,
            customer_id=self.customer_id,
            kind=kind,
            template_id=kind.value,
            csat=csat,
            answered_at=when,
            **scores,
        )
        event = build_event(data, source="feedback", time=when, subject=data.ticket_id or self.customer_id)
        assert isinstance(event, FeedbackReceivedV2)
        return event

    def survey_cancelled(self, when: datetime) -> SurveyCancelled:
        """`feedback.survey_cancelled` from feedback: the ticket reopened before its survey was answered."""
        data = SurveyCancelledData(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            kind=SurveyKind.TICKET,
            reason="reopened",
            cancelled_at=when,
        )
        return _event(SurveyCancelled, data, source="feedback", time=when, cause=self.reopened(when))

    def survey_reminded(self, when: datetime) -> SurveyReminded:
        """`feedback.survey_reminded` from feedback's timer."""
        data = SurveyRemindedData(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            kind=SurveyKind.TICKET,
            channel="email",
            reminded_at=when,
            expires_at=when + timedelta(days=13),
        )
        return _event(SurveyReminded, data, source="feedback", time=when)

    def low_score(self, when: datetime, *, csat: int = 1) -> FeedbackLowScore:
        """`feedback.low_score` from feedback: this ticket's survey scored `csat`."""
        data = LowScoreData(
            survey_id=new_id(),
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            kind=SurveyKind.TICKET,
            reasons=["csat"],
            csat=csat,
            category=self.category,
            preferred_channel="phone",
            answered_at=when,
        )
        return _event(FeedbackLowScore, data, source="feedback", time=when)

    def care_task_due(self, when: datetime, *, segment: str = "churn_risk") -> CareTaskDue:
        """`care.task_due` from retrospective: a cadence contact with this ticket's customer."""
        data = CareTaskDueData(
            task_id=new_id(),
            customer_id=self.customer_id,
            kind=CareTaskKind.CADENCE,
            rule=segment,
            segment=segment,
            category="service_attitude",
            preferred_channel="phone",
            due_at=when,
        )
        event = build_event(data, source="retrospective", time=when, subject=self.customer_id)
        assert isinstance(event, CareTaskDue)
        return event

    def every_event(self) -> list[Envelope]:
        """One of each event type about this ticket, in the order they would happen."""
        t = self.created_at
        first = t + timedelta(minutes=5)
        resolved = t + timedelta(hours=3)
        return [
            self.created(),
            self.clocks_changed(t + timedelta(milliseconds=100)),
            self.segment_changed(t + timedelta(milliseconds=200)),
            create_policy_changed(t + timedelta(milliseconds=50)),
            create_calendar_changed(t + timedelta(milliseconds=60)),
            self.queued(t + timedelta(milliseconds=500)),
            self.acknowledged(t + timedelta(milliseconds=700)),
            self.assigned(t + timedelta(seconds=1)),
            self.connected(t + timedelta(seconds=2)),
            self.status_changed(t + timedelta(seconds=1), "pending_assignment", "in_progress", action="assign"),
            self.replied(first),
            self.met(ClockKind.FIRST_RESPONSE, first),
            self.plan_committed(first + timedelta(minutes=5)),
            self.priority_changed(first + timedelta(minutes=6)),
            self.status_changed(first + timedelta(minutes=7), "in_progress", "waiting_on_customer", action="wait"),
            self.message_received(first + timedelta(minutes=30)),
            self.updated(first + timedelta(minutes=40)),
            self.warning(ClockKind.RESOLUTION, t + timedelta(minutes=90)),
            self.breached(ClockKind.RESOLUTION, t + timedelta(minutes=120)),
            self.escalated(ClockKind.RESOLUTION, t + timedelta(minutes=120)),
            self.resolved(resolved, first_response_at=first),
            self.followed_up(resolved + timedelta(hours=1), resolved_at=resolved),
            self.survey_sent_v1(resolved),
            self.survey_sent(resolved),
            self.survey_reminded(resolved + timedelta(hours=1)),
            self.answered(t + timedelta(hours=5)),
            self.answered_v2(t + timedelta(hours=5), csat=2),
            self.low_score(t + timedelta(hours=5), csat=2),
            self.repeat_contact(t + timedelta(hours=6), reopened=True),
            self.reopened(t + timedelta(hours=6), reason="repeat_contact"),
            self.survey_cancelled(t + timedelta(hours=6)),
            self.recategorised(t + timedelta(hours=6, minutes=5)),
            self.reassigned(t + timedelta(hours=6, minutes=6)),
            self.resolved(t + timedelta(hours=7), first_response_at=first),
            self.closed(t + timedelta(days=1), resolved_at=t + timedelta(hours=7)),
            create_wait_exceeded(t + timedelta(hours=8)),
            self.care_task_due(t + timedelta(hours=8)),
            create_token_revoked(t + timedelta(hours=9)),
            create_webhook_endpoint_disabled(t + timedelta(hours=9)),
            create_rectification_opened(t + timedelta(days=2)),
            create_rectification_closed(t + timedelta(days=9)),
            create_order_recorded(t - timedelta(days=3), customer_id=self.customer_id),
            self.erased(t + timedelta(days=10)),
        ]


def create_order_recorded(
    when: datetime,
    *,
    customer_id: str = "cus_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    order_id: str = "",
    amount: str = "129.90",
    currency: str = "EUR",
    status: OrderStatus = OrderStatus.PLACED,
    ordered_at: datetime | None = None,
    revision: int = 1,
    channel_client: str = "shop",
) -> OrderRecorded:
    """`order.recorded` as intake emits it: a commerce system reported an order (or its new status)."""
    data = OrderRecordedData(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:8]}",
        customer_id=customer_id,
        channel_client=channel_client,
        amount=Decimal(amount),
        currency=currency,
        status=status,
        ordered_at=ordered_at or when,
        recorded_at=when,
        revision=revision,
    )
    event = build_event(data, source="intake", time=when, subject=customer_id)
    assert isinstance(event, OrderRecorded)
    return event


def create_token_revoked(when: datetime, *, sub: str = "agent-gone") -> StaffTokenRevoked:
    """`staff.token_revoked` as routing emits it: every token of `sub` issued until `when`."""
    data = TokenRevokedData(
        revocation_id=uuid.uuid4(), sub=sub, issued_before=when, expires_at=when + timedelta(days=90)
    )
    event = build_event(data, source="routing", time=when, subject=sub)
    assert isinstance(event, StaffTokenRevoked)
    return event


def create_policy_changed(when: datetime, *, policy_id: str = "urgent", version: int = 1) -> SlaPolicyChanged:
    """`sla.policy_changed` as sla publishes a policy: urgent tickets, office-hours resolution."""
    data = SlaPolicyChangedData(
        policy_id=policy_id,
        version=version,
        rules_version=version,
        name="Urgent",
        position=10,
        urgencies=["urgent"],
        targets=[
            SlaTargetDefinition(clock=ClockKind.ACKNOWLEDGEMENT, minutes=5),
            SlaTargetDefinition(clock=ClockKind.RESOLUTION, minutes=240, calendar="office"),
        ],
        changed_at=when,
    )
    event = build_event(data, source="sla", time=when, subject=policy_id)
    assert isinstance(event, SlaPolicyChanged)
    return event


def create_calendar_changed(when: datetime, *, calendar_id: str = "office", version: int = 1) -> SlaCalendarChanged:
    """`sla.calendar_changed` as sla publishes a calendar: Berlin, weekdays 09:00-17:00."""
    data = SlaCalendarChangedData(
        calendar_id=calendar_id,
        version=version,
        rules_version=version,
        time_zone="Europe/Berlin",
        week=[[(540, 1020)]] * 5 + [[], []],
        holidays=[date(2026, 12, 25)],
        changed_at=when,
    )
    event = build_event(data, source="sla", time=when, subject=calendar_id)
    assert isinstance(event, SlaCalendarChanged)
    return event


def create_webhook_endpoint_disabled(when: datetime) -> WebhookEndpointDisabled:
    """`webhook.endpoint_disabled` as intake emits it when an endpoint kept failing."""
    data = WebhookEndpointDisabledData(
        endpoint_id=new_id(),
        owner="admin",
        reason="failing",
        failing_since=when - timedelta(days=3),
        last_status=503,
        disabled_at=when,
    )
    event = build_event(data, source="intake", time=when, subject=data.endpoint_id)
    assert isinstance(event, WebhookEndpointDisabled)
    return event


RECTIFICATION_ITEM = uuid.UUID("01900000-0000-7000-8000-00000000beef")


def create_rectification_opened(when: datetime, *, category: str = "logistics_delay") -> RectificationOpened:
    """`review.rectification_opened` as retrospective emits it after three hot weeks."""
    data = RectificationOpenedData(
        item_id=RECTIFICATION_ITEM,
        category=category,
        pain_class="process",
        streak_started="2026-W45",
        weeks=3,
        threshold="share_pct > 30",
        evidence=[{"week": f"2026-W{w}", "tickets": 40, "total": 100, "share_pct": 40.0} for w in (45, 46, 47)],
        owner_department="supply_chain",
        opened_at=when,
        due_at=when + timedelta(days=14),
    )
    event = build_event(data, source="retrospective", time=when, subject=data.item_id)
    assert isinstance(event, RectificationOpened)
    return event


def create_rectification_closed(when: datetime, *, category: str = "logistics_delay") -> RectificationClosed:
    """`review.rectification_closed` as retrospective emits it when staff close the item."""
    data = RectificationClosedData(
        item_id=RECTIFICATION_ITEM, category=category, closed_at=when, closed_by="ops", cooled=True
    )
    event = build_event(data, source="retrospective", time=when, subject=data.item_id)
    assert isinstance(event, RectificationClosed)
    return event


def create_wait_exceeded(when: datetime, *, counter: str = "store-1") -> CareWaitExceeded:
    """`care.wait_exceeded` as intake emits it for a counter queue entry."""
    data = CareWaitExceededData(
        entry_id=new_id(),
        counter=counter,
        number="A001",
        customer_id="cust-counter",
        joined_at=when - timedelta(minutes=21),
        waited_seconds=21 * 60.0,
        limit_seconds=20 * 60.0,
    )
    event = build_event(data, source="intake", time=when, subject=data.entry_id)
    assert isinstance(event, CareWaitExceeded)
    return event


def create_ticket_created(**overrides: Any) -> TicketCreated:
    """`ticket.created` as intake emits it."""
    ref = ticket_ref(**overrides)
    return _event(TicketCreated, TicketCreatedData(**ref, need="refund"), source="intake", time=ref["created_at"])


def _ref(created: TicketCreated) -> dict[str, Any]:
    return created.data.model_dump(include=set(TicketRef.model_fields))


def create_ticket_replied(
    created: TicketCreated,
    *,
    at: datetime | None = None,
    after: timedelta = timedelta(minutes=5),
    first_response: bool = True,
) -> TicketReplied:
    """An agent's reply to a created ticket (at `at`, else `after` its creation), as intake emits it."""
    at = at or created.data.created_at + after
    data = TicketRepliedData(
        **_ref(created), message_id=new_id(), agent_id="agent-1", replied_at=at, first_response=first_response
    )
    return _event(TicketReplied, data, source="intake", time=at)


def create_ticket_resolved(
    created: TicketCreated,
    *,
    at: datetime | None = None,
    after: timedelta = timedelta(minutes=60),
    first_response_at: datetime | None = None,
) -> TicketResolved:
    """The resolution of a created ticket (at `at`, else `after` its creation), as intake emits it."""
    at = at or created.data.created_at + after
    data = TicketResolvedData(
        **_ref(created), resolved_at=at, resolved_by="agent-1", first_response_at=first_response_at
    )
    return _event(TicketResolved, data, source="intake", time=at)
