"""Every event type in the system: when it is emitted and what it carries.

Payloads hold ids and masked values only, never free text or contact details. Schemas evolve
additively; a breaking change becomes a new `.vN` type.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from ticketloop_shared.events.envelope import Envelope


class EventType(StrEnum):
    """The versioned names of all events (past-tense facts)."""

    TICKET_CREATED = "ticket.created.v1"
    TICKET_ASSIGNED = "ticket.assigned.v1"
    TICKET_REPLIED = "ticket.replied.v1"
    TICKET_RESOLVED = "ticket.resolved.v1"
    TICKET_STATUS_CHANGED = "ticket.status_changed.v1"
    TICKET_MESSAGE_RECEIVED = "ticket.message_received.v1"
    TICKET_PLAN_COMMITTED = "ticket.plan_committed.v1"
    TICKET_UPDATED = "ticket.updated.v1"
    TICKET_PRIORITY_CHANGED = "ticket.priority_changed.v1"
    TICKET_RECATEGORISED = "ticket.recategorised.v1"
    TICKET_FOLLOWED_UP = "ticket.followed_up.v1"
    TICKET_REOPENED = "ticket.reopened.v1"
    TICKET_CLOSED = "ticket.closed.v1"
    TICKET_REPEAT_CONTACT = "ticket.repeat_contact.v1"
    TICKET_QUEUED = "ticket.queued.v1"
    TICKET_REASSIGNED = "ticket.reassigned.v1"
    CARE_WAIT_EXCEEDED = "care.wait_exceeded.v1"
    SLA_MET = "sla.met.v1"
    SLA_BREACHED = "sla.breached.v1"
    SLA_WARNING = "sla.warning.v1"
    SLA_ESCALATED = "sla.escalated.v1"
    SLA_CLOCKS_CHANGED = "sla.clocks_changed.v1"
    SLA_POLICY_CHANGED = "sla.policy_changed.v1"
    SLA_CALENDAR_CHANGED = "sla.calendar_changed.v1"
    CUSTOMER_SEGMENT_CHANGED = "customer.segment_changed.v1"
    CUSTOMER_ERASED = "customer.erased.v1"
    FEEDBACK_SURVEY_SENT = "feedback.survey_sent.v1"
    FEEDBACK_SURVEY_SENT_V2 = "feedback.survey_sent.v2"
    FEEDBACK_RECEIVED = "feedback.received.v1"
    FEEDBACK_RECEIVED_V2 = "feedback.received.v2"
    FEEDBACK_SURVEY_CANCELLED = "feedback.survey_cancelled.v1"
    FEEDBACK_SURVEY_REMINDED = "feedback.survey_reminded.v1"
    FEEDBACK_LOW_SCORE = "feedback.low_score.v1"
    CARE_TASK_DUE = "care.task_due.v1"
    REVIEW_RECTIFICATION_OPENED = "review.rectification_opened.v1"
    REVIEW_RECTIFICATION_CLOSED = "review.rectification_closed.v1"
    STAFF_TOKEN_REVOKED = "staff.token_revoked.v1"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled.v1"
    TICKET_ACKNOWLEDGED = "ticket.acknowledged.v1"
    TICKET_CONNECTED = "ticket.connected.v1"
    ORDER_RECORDED = "order.recorded.v1"


class Payload(BaseModel):
    """Base of every `data` model: extra fields from newer producers are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class TicketRef(Payload):
    """What every ticket event repeats about its ticket, so a consumer that sees a later event
    first (reordering, replay) can still act on it."""

    ticket_id: UUID
    number: str
    channel: str
    category: str
    urgency: str
    customer_id: str
    created_at: AwareDatetime


class TicketOrigin(StrEnum):
    """Why a ticket exists: a customer reported it, or the loop opened it itself (channel
    `proactive`): to win back a customer who gave a low score, or for a care contact."""

    CUSTOMER = "customer"
    RECOVERY = "recovery"
    CARE = "care"


class CareOutcome(StrEnum):
    """How the agent completed a care contact (a care ticket is resolved with one, and only a
    care ticket): the customer was reached, did not answer, declined to talk, or asked for a
    follow-up contact."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    DECLINED = "declined"
    FOLLOW_UP = "follow_up"


class TicketCreatedData(TicketRef):
    """Payload of `ticket.created`."""

    need: str
    expected_resolution_at: AwareDatetime | None = None
    customer_annual_spend: float | None = None
    customer_since: date | None = None
    # Skills an agent must have to take the ticket (e.g. `language:fr`, `product:router`).
    required_skills: list[str] = Field(default_factory=list)
    # The customer is waiting in a live session (a chat or messaging conversation, a call):
    # sla runs the 30-second access clock. Phone tickets are live whatever this says.
    live_session: bool = False
    # The channel the customer wants to be contacted on (surveys, care contacts).
    customer_preferred_channel: str | None = None
    origin: TicketOrigin = TicketOrigin.CUSTOMER
    # A recovery ticket: the survey whose low score opened it; a care ticket: its care task.
    origin_id: str | None = None
    # A recovery ticket: the ticket the low score was about (none for a relationship survey).
    linked_ticket_id: UUID | None = None
    # A care ticket: when its care task is due (a task runs no customer-response clocks; its due
    # date is what counts).
    due_at: AwareDatetime | None = None
    # The clocks the ticket starts with and the policy that sets them, as intake computed them at
    # acceptance with sla's published rules (its read-back shows them as version 0). sla starts
    # the same clocks and, when its own are exactly these, publishes no `sla.clocks_changed` for
    # the start: the next change of any clock is its first publication. None: not computed
    # (older producers, a care ticket).
    clocks: list[ClockView] | None = None
    clocks_policy_id: str | None = None


class AssignmentCandidate(Payload):
    """One agent routing considered for a ticket, with what it weighed."""

    agent_id: str
    presence: str
    open_tickets: int
    capacity: int | None = None
    skills: list[str] = Field(default_factory=list)
    eligible: bool
    # Why an ineligible agent was passed over (`away`, `at_capacity`, `missing_skills:language:fr`).
    why_not: str | None = None


class AssignmentReason(Payload):
    """Why routing decided as it did: strategy, the rule that decided, the ticket's priority score
    and every candidate considered; for a person's act (take, assign, transfer), who and their note."""

    strategy: str
    rule: str
    score: float | None = None
    candidates: list[AssignmentCandidate] = Field(default_factory=list)
    waited_seconds: float = 0.0
    # Set when a person decided rather than routing (rule `taken`, `assigned_by`, `transferred`):
    # who (`agent:<sub>`, `supervisor:<sub>`, `admin:<sub>`) and what they wrote about it.
    actor: str | None = None
    note: str | None = None


class TicketAssignedData(Payload):
    """Payload of `ticket.assigned`."""

    ticket_id: UUID
    department_id: str
    department_name: str
    agent_id: str
    agent_name: str
    assigned_at: AwareDatetime
    reason: AssignmentReason | None = None


class TicketReassignedData(TicketAssignedData):
    """Payload of `ticket.reassigned`: the new owner, the one before, and why it changed."""

    previous_agent_id: str | None = None


class TicketQueuedData(Payload):
    """Payload of `ticket.queued`: nobody in the department can take the ticket now; it waits in
    the department's queue with this priority score (higher goes first)."""

    ticket_id: UUID
    department_id: str
    department_name: str
    score: float
    queued_at: AwareDatetime
    reason: AssignmentReason | None = None


class TicketStatusChangedData(TicketRef):
    """Payload of `ticket.status_changed`: every move of the lifecycle, with what caused it."""

    from_status: str
    to_status: str
    # The lifecycle action (`assign`, `reply`, `wait`, `customer_message`, `resolve`, `confirm`,
    # `reopen`, `auto_close`, …) and who took it (`agent:<id>`, `channel:<name>`, `customer`,
    # `routing`, `system`).
    action: str
    actor: str
    changed_at: AwareDatetime


class TicketMessageReceivedData(TicketRef):
    """Payload of `ticket.message_received`: the customer wrote again (the text stays in intake)."""

    message_id: UUID
    received_at: AwareDatetime
    # `channel` (through the channel's key), `link` (the no-login link) or `repeat_contact`.
    via: str


class TicketPlanCommittedData(TicketRef):
    """Payload of `ticket.plan_committed`: the owner told the customer how and by when it will be
    solved (SPEC §2: a solution or an explicit handling deadline within 2 hours)."""

    agent_id: str
    committed_at: AwareDatetime
    committed_resolution_at: AwareDatetime


class TicketUpdatedData(TicketRef):
    """Payload of `ticket.updated`: a progress update sent to the customer (the 24-hour rule)."""

    message_id: UUID
    agent_id: str
    updated_at: AwareDatetime


class TicketPriorityChangedData(TicketRef):
    """Payload of `ticket.priority_changed` (`urgency` is the new value)."""

    previous_urgency: str
    changed_by: str
    changed_at: AwareDatetime


class TicketRecategorisedData(TicketRef):
    """Payload of `ticket.recategorised` (`category` is the new value)."""

    previous_category: str
    changed_by: str
    changed_at: AwareDatetime


class TicketFollowedUpData(TicketRef):
    """Payload of `ticket.followed_up`: the post-resolution visit was made (the 2-hour rule)."""

    agent_id: str
    followed_up_at: AwareDatetime
    resolved_at: AwareDatetime


class TicketReopenedData(TicketRef):
    """Payload of `ticket.reopened`."""

    reopened_at: AwareDatetime
    previous_status: str
    # `customer_message`, `customer_request` or `repeat_contact`.
    reason: str
    actor: str


class TicketClosedData(TicketRef):
    """Payload of `ticket.closed`: confirmed by the customer, or closed by itself after the
    confirmation window (`automatic`)."""

    closed_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    automatic: bool
    actor: str


class TicketRepeatContactData(TicketRef):
    """Payload of `ticket.repeat_contact`: the customer reported a problem they already have open
    (or had solved within the repeat window); it was added to this ticket, not made a new one."""

    contacted_at: AwareDatetime
    via_channel: str
    reopened: bool
    message_id: UUID


class CareWaitExceededData(Payload):
    """Payload of `care.wait_exceeded`: a customer has waited at a counter past the limit."""

    entry_id: UUID
    counter: str
    number: str
    customer_id: str
    joined_at: AwareDatetime
    waited_seconds: float
    limit_seconds: float


class TicketRepliedData(TicketRef):
    """Payload of `ticket.replied`."""

    message_id: UUID
    agent_id: str
    replied_at: AwareDatetime
    first_response: bool


class TicketResolvedData(TicketRef):
    """Payload of `ticket.resolved`."""

    resolved_at: AwareDatetime
    resolved_by: str
    first_response_at: AwareDatetime | None = None
    # Solved by a knowledge-base article the customer read (no agent involved).
    self_service: bool = False
    article_id: UUID | None = None
    # Repeated from `ticket.created`, so feedback surveys on the right channel and knows a care
    # contact (not surveyed) from a problem (surveyed) without reading every created ticket.
    customer_preferred_channel: str | None = None
    origin: TicketOrigin = TicketOrigin.CUSTOMER
    origin_id: str | None = None
    # A care ticket: how the agent completed the contact (None on any other ticket).
    outcome: CareOutcome | None = None


class ClockKind(StrEnum):
    """The SLA metrics a ticket is measured on (SPEC §2), each its own clock."""

    ACKNOWLEDGEMENT = "acknowledgement"
    FIRST_RESPONSE = "first_response"
    LIVE_ACCESS = "live_access"
    PLAN = "plan"
    RESOLUTION = "resolution"
    PERIODIC_UPDATE = "periodic_update"
    NEXT_REPLY = "next_reply"
    FOLLOW_UP = "follow_up"


class ClockOutcome(StrEnum):
    """Where a clock stands: running or paused while it counts, then met, breached or cancelled
    (no longer owed: a self-service answer needs no first human response)."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


class SlaClockData(Payload):
    """What `sla.met`, `sla.breached`, `sla.warning` and `sla.escalated` say about one cycle of
    a clock (recurring metrics, the periodic update and the next reply, run one cycle after
    another). Seconds are business seconds of the clock's calendar, except `paused_seconds`,
    which is wall-clock."""

    ticket_id: UUID
    clock: ClockKind
    started_at: AwareDatetime
    due_at: AwareDatetime
    stopped_at: AwareDatetime | None = None
    breached_at: AwareDatetime | None = None
    cycle: int = 1
    policy_id: str | None = None
    target_seconds: float | None = None
    paused_seconds: float = 0.0
    # Met: the business time left when it was stopped; breached and then stopped: how late it
    # was (negative).
    margin_seconds: float | None = None
    department_id: str | None = None
    agent_id: str | None = None


class SlaMetData(SlaClockData):
    """Payload of `sla.met`."""


class SlaBreachedData(SlaClockData):
    """Payload of `sla.breached`."""


class SlaWarningData(SlaClockData):
    """Payload of `sla.warning`: `share` of the target is used up."""

    share: float


class EscalationTarget(StrEnum):
    """Who an escalation step notifies."""

    ASSIGNEE = "assignee"
    SUPERVISOR = "supervisor"
    GROUP = "group"


class SlaEscalatedData(SlaClockData):
    """Payload of `sla.escalated`: step `level` of the policy's chain, reached at `share` of the
    target; `group` names the group for a group step."""

    level: int
    notify: EscalationTarget
    share: float
    group: str | None = None


class ClockView(Payload):
    """One metric's current cycle as `sla.clocks_changed` publishes it; `due_at` is null while
    the clock is paused (it has no due instant until it runs again)."""

    clock: ClockKind
    cycle: int
    status: ClockOutcome
    started_at: AwareDatetime
    due_at: AwareDatetime | None
    target_seconds: float
    paused_seconds: float = 0.0
    stopped_at: AwareDatetime | None = None
    breached_at: AwareDatetime | None = None


# `ticket.created` names ClockView, defined above it in the file's order of topics.
TicketCreatedData.model_rebuild()


class SlaClocksChangedData(Payload):
    """Payload of `sla.clocks_changed`: every clock of the ticket as it now stands. `version`
    grows with each change, so a consumer keeps the highest it has seen and ignores the rest."""

    ticket_id: UUID
    version: int
    policy_id: str
    policy_version: int
    changed_at: AwareDatetime
    clocks: list[ClockView]


class SlaTargetDefinition(Payload):
    """One metric's allowance in a published policy, in business minutes of `calendar`."""

    clock: ClockKind
    minutes: float
    calendar: str = "24x7"


class SlaStepDefinition(Payload):
    """One escalation step of a published policy."""

    level: int
    share: float
    notify: EscalationTarget
    group: str | None = None


class SlaPolicyChangedData(Payload):
    """Payload of `sla.policy_changed`: the whole current definition of one policy (compacted
    style: the latest per `policy_id` is all a consumer needs), or `deleted`. `rules_version`
    is sla's sequence of every policy or calendar change; `version` the policy's own."""

    policy_id: str
    version: int
    rules_version: int
    deleted: bool = False
    name: str = ""
    position: int = 0
    channels: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    urgencies: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    # What the customer wants done (`Need`): a policy for repairs (SPEC §2's repair response).
    needs: list[str] = Field(default_factory=list)
    targets: list[SlaTargetDefinition] = Field(default_factory=list)
    pauses: dict[ClockKind, list[str]] = Field(default_factory=dict)
    warning_share: float = 0.75
    escalation: list[SlaStepDefinition] = Field(default_factory=list)
    changed_at: AwareDatetime


class SlaCalendarChangedData(Payload):
    """Payload of `sla.calendar_changed`: the whole current definition of one business calendar
    (zone, weekly working intervals in local minutes Monday..Sunday, closed dates), or `deleted`."""

    calendar_id: str
    version: int
    rules_version: int
    deleted: bool = False
    time_zone: str = "UTC"
    week: list[list[tuple[int, int]]] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    changed_at: AwareDatetime


class TicketAcknowledgedData(TicketRef):
    """Payload of `ticket.acknowledged`: the customer has the acknowledgement. `via` is
    `webhook` (the channel's endpoint confirmed the `ticket.acknowledged` delivery with a 2xx)
    or `read_back` (a channel without such a subscription read the ticket back)."""

    acknowledged_at: AwareDatetime
    via: str


class TicketConnectedData(TicketRef):
    """Payload of `ticket.connected`: a person is connected with the customer (the ticket's
    owner said so explicitly, `POST /v1/tickets/{id}/connected`)."""

    connected_at: AwareDatetime
    agent_id: str


class CustomerSegmentChangedData(Payload):
    """Payload of `customer.segment_changed`: the segment a customer now belongs to, and why."""

    customer_id: str
    segment: str
    previous_segment: str | None = None
    reasons: list[str] = Field(default_factory=list)
    changed_at: AwareDatetime
    # What consumers time their own rules on (feedback: the new customer's survey one week after
    # the first cooperation; care contacts on the preferred channel).
    customer_since: date | None = None
    first_seen_at: AwareDatetime | None = None
    preferred_channel: str | None = None


class CustomerErasedData(Payload):
    """Payload of `customer.erased`: which customer's personal data was erased, and when. Nothing
    else: the event itself must not carry what it asks everyone to forget."""

    customer_id: str
    erased_at: AwareDatetime


class CareTaskKind(StrEnum):
    """Why a care contact is due: the segment's contact cadence, or an anticipation rule."""

    CADENCE = "cadence"
    ANTICIPATION = "anticipation"


class CareTaskDueData(Payload):
    """Payload of `care.task_due`: a proactive contact with the customer is due now. `rule` names
    the cadence (the segment) or the anticipation rule; `category` is what intake files the
    proactive ticket under."""

    task_id: UUID
    customer_id: str
    kind: CareTaskKind
    rule: str
    segment: str
    category: str
    preferred_channel: str | None = None
    due_at: AwareDatetime
    # 1 for a contact the cadence or rule made due; 2, 3… for the retries after no answer.
    attempt: int = 1


class RectificationOpenedData(Payload):
    """Payload of `review.rectification_opened`: a category stayed hot (its share, or count, of the
    week's tickets above the threshold) for `weeks` consecutive weeks; a cross-department
    rectification item is owed by `owner_department` by `due_at`. `evidence` holds each week of
    the streak: `{"week", "tickets", "total", "share_pct"}`."""

    item_id: UUID
    category: str
    pain_class: str
    streak_started: str
    weeks: int
    threshold: str
    evidence: list[dict[str, Any]]
    owner_department: str | None = None
    opened_at: AwareDatetime
    due_at: AwareDatetime


class RectificationClosedData(Payload):
    """Payload of `review.rectification_closed`: the item is done; `cooled` tells whether the
    category was below its threshold in the last complete week."""

    item_id: UUID
    category: str
    closed_at: AwareDatetime
    closed_by: str
    cooled: bool | None = None


class TokenRevokedData(Payload):
    """Payload of `staff.token_revoked`: one token (`jti`), or every token of `sub` issued at or
    before `issued_before`. Kept by every service until `expires_at`, when such tokens have
    expired anyway."""

    revocation_id: UUID
    jti: str | None = None
    sub: str | None = None
    issued_before: AwareDatetime | None = None
    expires_at: AwareDatetime


class SurveySentData(Payload):
    """Payload of `feedback.survey_sent.v1` (no longer emitted: its `link` is a credential, and
    links do not travel on topics; kept so old outbox rows replayed still parse)."""

    survey_id: UUID
    ticket_id: UUID
    customer_id: str
    link: str
    expires_at: AwareDatetime


class SurveyKind(StrEnum):
    """Which survey: the per-ticket one after a resolution, the relationship survey of a new
    customer (a week after the first cooperation) or of a high-value one (each quarter end)."""

    TICKET = "ticket"
    ONBOARDING = "onboarding"
    QUARTERLY = "quarterly"


class SurveySentV2Data(Payload):
    """Payload of `feedback.survey_sent.v2`: the survey is due and awaits delivery. The link is
    not here; a delivery system fetches it with a notifier token from `/v1/survey-deliveries`.
    A relationship survey has no ticket."""

    survey_id: UUID
    ticket_id: UUID | None
    customer_id: str
    expires_at: AwareDatetime
    kind: SurveyKind = SurveyKind.TICKET
    template_id: str | None = None
    # The customer's preferred channel, the one to deliver on (null: the channel's own default).
    channel: str | None = None
    sent_at: AwareDatetime | None = None


class SurveyCancelledData(Payload):
    """Payload of `feedback.survey_cancelled`: a pending or unanswered survey will not be asked
    (`reason`: `reopened` when its ticket reopened, `segment_left` when the customer left the
    segment it was for)."""

    survey_id: UUID
    ticket_id: UUID | None
    customer_id: str
    kind: SurveyKind
    reason: str
    cancelled_at: AwareDatetime


class SurveyRemindedData(Payload):
    """Payload of `feedback.survey_reminded`: the one reminder of a survey still unanswered; the
    link is back on the delivery list."""

    survey_id: UUID
    ticket_id: UUID | None
    customer_id: str
    kind: SurveyKind
    channel: str | None = None
    reminded_at: AwareDatetime
    expires_at: AwareDatetime


class FeedbackReceivedData(Payload):
    """Payload of `feedback.received` (the comment itself stays in the feedback store)."""

    survey_id: UUID
    ticket_id: UUID
    customer_id: str
    csat: int = Field(ge=1, le=5)
    nps: int = Field(ge=0, le=10)
    has_comment: bool
    answered_at: AwareDatetime


class Dimension(StrEnum):
    """The relationship survey's dimension scores (1–10)."""

    QUALITY = "quality"
    RESPONSE_SPEED = "response_speed"
    RESOLUTION = "resolution"
    CARE = "care"
    OVERALL = "overall"


class FeedbackReceivedV2Data(Payload):
    """Payload of `feedback.received.v2`: the scores of one answer, whatever survey it was (the
    texts stay in the feedback store). `csat` is the per-ticket 1–5; `dimensions` the
    relationship survey's 1–10 scores; each is absent when the template did not ask it or the
    customer skipped an optional question."""

    survey_id: UUID
    ticket_id: UUID | None
    customer_id: str
    kind: SurveyKind
    template_id: str
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    dimensions: dict[Dimension, Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=dict)
    has_comment: bool = False
    contact_ok: bool | None = None
    answered_at: AwareDatetime


class LowScoreData(Payload):
    """Payload of `feedback.low_score`: an answer at or under a low-score threshold; intake opens
    a recovery ticket. `reasons` names each threshold crossed (`csat`, `overall`, `nps`)."""

    survey_id: UUID
    ticket_id: UUID | None
    customer_id: str
    kind: SurveyKind
    reasons: list[str]
    csat: int | None = None
    overall: int | None = None
    nps: int | None = None
    # The category of the ticket the survey was about, for the recovery ticket.
    category: str | None = None
    preferred_channel: str | None = None
    answered_at: AwareDatetime


class WebhookEndpointDisabledData(Payload):
    """Payload of `webhook.endpoint_disabled`: intake stopped delivering to a webhook endpoint
    (it answered 410 Gone, or failed without a success for longer than allowed). Its pending
    deliveries are kept; resuming the endpoint sends them."""

    endpoint_id: UUID
    # `channel` (a channel client's subscription) or `admin` (a downstream system's).
    owner: str
    channel_client_id: UUID | None = None
    # `gone` (410) or `failing`.
    reason: str
    failing_since: AwareDatetime | None = None
    last_status: int | None = None
    disabled_at: AwareDatetime


class TicketCreated(Envelope):
    """Emitted by intake when a channel's report is accepted as a new ticket."""

    type: Literal[EventType.TICKET_CREATED] = EventType.TICKET_CREATED
    data: TicketCreatedData


class TicketAssigned(Envelope):
    """Emitted by routing when a ticket gets an owning department and agent."""

    type: Literal[EventType.TICKET_ASSIGNED] = EventType.TICKET_ASSIGNED
    data: TicketAssignedData


class TicketReplied(Envelope):
    """Emitted by intake when an agent sends a reply to the customer."""

    type: Literal[EventType.TICKET_REPLIED] = EventType.TICKET_REPLIED
    data: TicketRepliedData


class TicketResolved(Envelope):
    """Emitted by intake when an agent marks a ticket resolved."""

    type: Literal[EventType.TICKET_RESOLVED] = EventType.TICKET_RESOLVED
    data: TicketResolvedData


class SlaMet(Envelope):
    """Emitted by sla when a clock is stopped before its deadline."""

    type: Literal[EventType.SLA_MET] = EventType.SLA_MET
    data: SlaMetData


class SlaBreached(Envelope):
    """Emitted by sla when a clock's deadline passes while it is still running."""

    type: Literal[EventType.SLA_BREACHED] = EventType.SLA_BREACHED
    data: SlaBreachedData


class SlaWarning(Envelope):
    """Emitted by sla once per clock cycle when the policy's warning share of the target is used."""

    type: Literal[EventType.SLA_WARNING] = EventType.SLA_WARNING
    data: SlaWarningData


class SlaEscalated(Envelope):
    """Emitted by sla once per clock cycle and step when an escalation step of the policy is reached
    (routing hands a supervisor step's ticket to the supervisor; other steps are for subscribers)."""

    type: Literal[EventType.SLA_ESCALATED] = EventType.SLA_ESCALATED
    data: SlaEscalatedData


class SlaClocksChanged(Envelope):
    """Emitted by sla whenever any clock of a ticket starts, pauses, resumes, gets a new target or
    ends: the deadlines intake shows."""

    type: Literal[EventType.SLA_CLOCKS_CHANGED] = EventType.SLA_CLOCKS_CHANGED
    data: SlaClocksChangedData


class CustomerSegmentChanged(Envelope):
    """Emitted by retrospective when a customer's segment changes (keyed by customer id): routing
    ranks VIPs first, sla matches policies on it, feedback times relationship surveys by it."""

    type: Literal[EventType.CUSTOMER_SEGMENT_CHANGED] = EventType.CUSTOMER_SEGMENT_CHANGED
    data: CustomerSegmentChangedData


class CustomerErased(Envelope):
    """Emitted by intake in the transaction that erases a customer's personal data (keyed by
    customer id): feedback destroys its key of the customer's survey texts, every other service
    blanks whatever personal text it holds of them. Repeated erasures emit it again; consumers
    treat it as idempotent."""

    type: Literal[EventType.CUSTOMER_ERASED] = EventType.CUSTOMER_ERASED
    data: CustomerErasedData


class SurveySent(Envelope):
    """Emitted by feedback (until v2 replaced it) when a survey was created for a resolved ticket."""

    # Subscribers see in the published schema that this version is no longer produced.
    model_config = ConfigDict(json_schema_extra={"deprecated": True})

    type: Literal[EventType.FEEDBACK_SURVEY_SENT] = EventType.FEEDBACK_SURVEY_SENT
    data: SurveySentData


class StaffTokenRevoked(Envelope):
    """Emitted by routing when an admin revokes a staff token (or all of a member's tokens);
    every service stops accepting it within its refresh interval."""

    type: Literal[EventType.STAFF_TOKEN_REVOKED] = EventType.STAFF_TOKEN_REVOKED
    data: TokenRevokedData


class SurveySentV2(Envelope):
    """Emitted by feedback when a survey is created for a resolved ticket (without its link)."""

    type: Literal[EventType.FEEDBACK_SURVEY_SENT_V2] = EventType.FEEDBACK_SURVEY_SENT_V2
    data: SurveySentV2Data


class FeedbackReceived(Envelope):
    """Emitted by feedback (until v2 replaced it) when a customer answered a ticket survey."""

    model_config = ConfigDict(json_schema_extra={"deprecated": True})

    type: Literal[EventType.FEEDBACK_RECEIVED] = EventType.FEEDBACK_RECEIVED
    data: FeedbackReceivedData


class FeedbackReceivedV2(Envelope):
    """Emitted by feedback when a customer answers any survey (per-ticket or relationship)."""

    type: Literal[EventType.FEEDBACK_RECEIVED_V2] = EventType.FEEDBACK_RECEIVED_V2
    data: FeedbackReceivedV2Data


class SurveyCancelled(Envelope):
    """Emitted by feedback when a pending or unanswered survey is withdrawn (its ticket reopened,
    or its customer left the segment it was for)."""

    type: Literal[EventType.FEEDBACK_SURVEY_CANCELLED] = EventType.FEEDBACK_SURVEY_CANCELLED
    data: SurveyCancelledData


class SurveyReminded(Envelope):
    """Emitted by feedback once per survey left unanswered past the reminder delay."""

    type: Literal[EventType.FEEDBACK_SURVEY_REMINDED] = EventType.FEEDBACK_SURVEY_REMINDED
    data: SurveyRemindedData


class FeedbackLowScore(Envelope):
    """Emitted by feedback with `feedback.received` when an answer is at or under a low-score
    threshold: intake opens a recovery ticket so a person calls the customer back."""

    type: Literal[EventType.FEEDBACK_LOW_SCORE] = EventType.FEEDBACK_LOW_SCORE
    data: LowScoreData


class CareTaskDue(Envelope):
    """Emitted by retrospective when a care contact falls due (a segment's cadence or an
    anticipation rule); intake opens a proactive ticket for it."""

    type: Literal[EventType.CARE_TASK_DUE] = EventType.CARE_TASK_DUE
    data: CareTaskDueData


class RectificationOpened(Envelope):
    """Emitted by retrospective when a hot category opens a rectification item (keyed by the
    item id): once per streak of hot weeks, however often the review runs."""

    type: Literal[EventType.REVIEW_RECTIFICATION_OPENED] = EventType.REVIEW_RECTIFICATION_OPENED
    data: RectificationOpenedData


class RectificationClosed(Envelope):
    """Emitted by retrospective when staff close a rectification item."""

    type: Literal[EventType.REVIEW_RECTIFICATION_CLOSED] = EventType.REVIEW_RECTIFICATION_CLOSED
    data: RectificationClosedData


class TicketStatusChanged(Envelope):
    """Emitted by intake on every change of a ticket's status, with the specific event beside it."""

    type: Literal[EventType.TICKET_STATUS_CHANGED] = EventType.TICKET_STATUS_CHANGED
    data: TicketStatusChangedData


class TicketMessageReceived(Envelope):
    """Emitted by intake when the customer adds a message to an open (or reopenable) ticket."""

    type: Literal[EventType.TICKET_MESSAGE_RECEIVED] = EventType.TICKET_MESSAGE_RECEIVED
    data: TicketMessageReceivedData


class TicketPlanCommitted(Envelope):
    """Emitted by intake when the owner commits a plan and a resolution time to the customer."""

    type: Literal[EventType.TICKET_PLAN_COMMITTED] = EventType.TICKET_PLAN_COMMITTED
    data: TicketPlanCommittedData


class TicketUpdated(Envelope):
    """Emitted by intake when an agent sends the customer a progress update."""

    type: Literal[EventType.TICKET_UPDATED] = EventType.TICKET_UPDATED
    data: TicketUpdatedData


class TicketPriorityChanged(Envelope):
    """Emitted by intake when staff change a ticket's urgency (routing re-scores it)."""

    type: Literal[EventType.TICKET_PRIORITY_CHANGED] = EventType.TICKET_PRIORITY_CHANGED
    data: TicketPriorityChangedData


class TicketRecategorised(Envelope):
    """Emitted by intake when staff change a ticket's category (routing re-evaluates its owner)."""

    type: Literal[EventType.TICKET_RECATEGORISED] = EventType.TICKET_RECATEGORISED
    data: TicketRecategorisedData


class TicketFollowedUp(Envelope):
    """Emitted by intake when the post-resolution follow-up with the customer is recorded."""

    type: Literal[EventType.TICKET_FOLLOWED_UP] = EventType.TICKET_FOLLOWED_UP
    data: TicketFollowedUpData


class TicketReopened(Envelope):
    """Emitted by intake when a resolved or closed ticket is reopened (customer message, request
    or repeat contact within the reopen window)."""

    type: Literal[EventType.TICKET_REOPENED] = EventType.TICKET_REOPENED
    data: TicketReopenedData


class TicketClosed(Envelope):
    """Emitted by intake when the customer confirms the solution, or the window to do so passes."""

    type: Literal[EventType.TICKET_CLOSED] = EventType.TICKET_CLOSED
    data: TicketClosedData


class TicketRepeatContact(Envelope):
    """Emitted by intake when a report is linked to the customer's existing ticket for the same
    problem instead of becoming a new ticket."""

    type: Literal[EventType.TICKET_REPEAT_CONTACT] = EventType.TICKET_REPEAT_CONTACT
    data: TicketRepeatContactData


class TicketQueued(Envelope):
    """Emitted by routing when no agent can take a ticket now and it waits in a department queue."""

    type: Literal[EventType.TICKET_QUEUED] = EventType.TICKET_QUEUED
    data: TicketQueuedData


class TicketReassigned(Envelope):
    """Emitted by routing when a ticket changes owner (away agent, escalation, recategorised)."""

    type: Literal[EventType.TICKET_REASSIGNED] = EventType.TICKET_REASSIGNED
    data: TicketReassignedData


class CareWaitExceeded(Envelope):
    """Emitted by intake once per counter queue entry whose wait passes the limit (SPEC §1: an
    apology/care action past 20 minutes)."""

    type: Literal[EventType.CARE_WAIT_EXCEEDED] = EventType.CARE_WAIT_EXCEEDED
    data: CareWaitExceededData


class WebhookEndpointDisabled(Envelope):
    """Emitted by intake when it disables a webhook endpoint (410 Gone, or failing too long)."""

    type: Literal[EventType.WEBHOOK_ENDPOINT_DISABLED] = EventType.WEBHOOK_ENDPOINT_DISABLED
    data: WebhookEndpointDisabledData


class SlaPolicyChanged(Envelope):
    """Emitted by sla when a policy is created, changed or deleted, and for every policy when sla
    starts (so a new reader, intake, has them all): its whole definition."""

    type: Literal[EventType.SLA_POLICY_CHANGED] = EventType.SLA_POLICY_CHANGED
    data: SlaPolicyChangedData


class SlaCalendarChanged(Envelope):
    """Emitted by sla when a business calendar is created, changed, gets holidays or is deleted,
    and for every calendar when sla starts: its whole definition."""

    type: Literal[EventType.SLA_CALENDAR_CHANGED] = EventType.SLA_CALENDAR_CHANGED
    data: SlaCalendarChangedData


class TicketAcknowledged(Envelope):
    """Emitted by intake when the acknowledgement reached the channel: its webhook delivery of
    `ticket.acknowledged` was answered 2xx, or (no such subscription) the channel read the
    ticket back. sla meets the acknowledgement clock on it."""

    type: Literal[EventType.TICKET_ACKNOWLEDGED] = EventType.TICKET_ACKNOWLEDGED
    data: TicketAcknowledgedData


class TicketConnected(Envelope):
    """Emitted by intake when the ticket's owner says a person is connected with the customer;
    sla meets the live-access clock on it."""

    type: Literal[EventType.TICKET_CONNECTED] = EventType.TICKET_CONNECTED
    data: TicketConnectedData


# --- orders (issue 22): a commerce system's orders, announced by intake -------------------------


class OrderStatus(StrEnum):
    """Where an order stands in the commerce system that reports it."""

    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class OrderRecordedData(Payload):
    """Payload of `order.recorded`: one order as the commerce system last reported it. The
    customer by their pseudonym (as on tickets) and no other personal data; `order_id` is the
    commerce system's own id, unique per `channel_client`."""

    order_id: str
    customer_id: str
    channel_client: str
    # Exact decimal, on the wire as a string ("129.90"): money is never a float.
    amount: Decimal
    currency: str
    status: OrderStatus
    ordered_at: AwareDatetime
    recorded_at: AwareDatetime
    # 1 for a new order, +1 per status change: a consumer keeps the highest it saw.
    revision: int


class OrderRecorded(Envelope):
    """Emitted by intake (keyed by customer id) when a commerce system reports a new order or a
    change of its status: retrospective learns spend and purchases from it (segments, the
    repurchase goal, care anticipated after an order)."""

    type: Literal[EventType.ORDER_RECORDED] = EventType.ORDER_RECORDED
    data: OrderRecordedData


EVENT_CLASSES: tuple[type[Envelope], ...] = (
    TicketCreated,
    TicketAssigned,
    TicketReplied,
    TicketResolved,
    TicketStatusChanged,
    TicketMessageReceived,
    TicketPlanCommitted,
    TicketUpdated,
    TicketPriorityChanged,
    TicketRecategorised,
    TicketFollowedUp,
    TicketReopened,
    TicketClosed,
    TicketRepeatContact,
    TicketQueued,
    TicketReassigned,
    CareWaitExceeded,
    SlaMet,
    SlaBreached,
    SlaWarning,
    SlaEscalated,
    SlaClocksChanged,
    CustomerSegmentChanged,
    CustomerErased,
    SurveySent,
    SurveySentV2,
    FeedbackReceived,
    FeedbackReceivedV2,
    SurveyCancelled,
    SurveyReminded,
    FeedbackLowScore,
    CareTaskDue,
    RectificationOpened,
    RectificationClosed,
    StaffTokenRevoked,
    WebhookEndpointDisabled,
    SlaPolicyChanged,
    SlaCalendarChanged,
    TicketAcknowledged,
    TicketConnected,
    OrderRecorded,
)
# Each payload class belongs to exactly one event class, so `emit(data)` knows the type.
_EVENT_FOR_PAYLOAD: dict[type[Payload], type[Envelope]] = {
    cls.model_fields["data"].annotation: cls  # type: ignore[misc]
    for cls in EVENT_CLASSES
}
assert len(_EVENT_FOR_PAYLOAD) == len(EVENT_CLASSES), "two event types share a payload class"


def event_class_for(data: Payload) -> type[Envelope]:
    """The event class whose payload `data` is."""
    try:
        return _EVENT_FOR_PAYLOAD[type(data)]
    except KeyError:
        raise TypeError(f"{type(data).__name__} is not the payload of any event type") from None


AnyEvent = Annotated[
    TicketCreated
    | TicketAssigned
    | TicketReplied
    | TicketResolved
    | TicketStatusChanged
    | TicketMessageReceived
    | TicketPlanCommitted
    | TicketUpdated
    | TicketPriorityChanged
    | TicketRecategorised
    | TicketFollowedUp
    | TicketReopened
    | TicketClosed
    | TicketRepeatContact
    | TicketQueued
    | TicketReassigned
    | CareWaitExceeded
    | SlaMet
    | SlaBreached
    | SlaWarning
    | SlaEscalated
    | SlaClocksChanged
    | CustomerSegmentChanged
    | CustomerErased
    | SurveySent
    | SurveySentV2
    | FeedbackReceived
    | FeedbackReceivedV2
    | SurveyCancelled
    | SurveyReminded
    | FeedbackLowScore
    | CareTaskDue
    | RectificationOpened
    | RectificationClosed
    | StaffTokenRevoked
    | WebhookEndpointDisabled
    | SlaPolicyChanged
    | SlaCalendarChanged
    | TicketAcknowledged
    | TicketConnected
    | OrderRecorded,
    Field(discriminator="type"),
]
ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(raw: dict[str, Any]) -> AnyEvent:
    """Validate a decoded message into its typed event; raises `pydantic.ValidationError`."""
    return ANY_EVENT.validate_python(raw)
