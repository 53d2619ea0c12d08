"""Every event type in the system: when it is emitted and what it carries.

Payloads hold ids and masked values only, never free text or contact details. Schemas evolve
additively; a breaking change becomes a new `.vN` type.
"""

from __future__ import annotations

from datetime import date
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
    SLA_MET = "sla.met.v1"
    SLA_BREACHED = "sla.breached.v1"
    FEEDBACK_SURVEY_SENT = "feedback.survey_sent.v1"
    FEEDBACK_SURVEY_SENT_V2 = "feedback.survey_sent.v2"
    FEEDBACK_RECEIVED = "feedback.received.v1"
    STAFF_TOKEN_REVOKED = "staff.token_revoked.v1"


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


class TicketCreatedData(TicketRef):
    """Payload of `ticket.created`."""

    need: str
    expected_resolution_at: AwareDatetime | None = None
    customer_annual_spend: float | None = None
    customer_since: date | None = None


class TicketAssignedData(Payload):
    """Payload of `ticket.assigned`."""

    ticket_id: UUID
    department_id: str
    department_name: str
    agent_id: str
    agent_name: str
    assigned_at: AwareDatetime


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


class ClockKind(StrEnum):
    """The SLA clocks a ticket runs."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class ClockOutcome(StrEnum):
    """Where a clock ended up."""

    RUNNING = "running"
    MET = "met"
    BREACHED = "breached"


class SlaClockData(Payload):
    """What `sla.met` and `sla.breached` say about a clock."""

    ticket_id: UUID
    clock: ClockKind
    started_at: AwareDatetime
    due_at: AwareDatetime
    stopped_at: AwareDatetime | None = None
    breached_at: AwareDatetime | None = None


class SlaMetData(SlaClockData):
    """Payload of `sla.met`."""


class SlaBreachedData(SlaClockData):
    """Payload of `sla.breached`."""


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


class SurveySentV2Data(Payload):
    """Payload of `feedback.survey_sent.v2`: the survey exists and awaits delivery. The link is
    not here; a delivery system fetches it with a notifier token from `/v1/survey-deliveries`."""

    survey_id: UUID
    ticket_id: UUID
    customer_id: str
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
    """Emitted by feedback when a customer answers a survey."""

    type: Literal[EventType.FEEDBACK_RECEIVED] = EventType.FEEDBACK_RECEIVED
    data: FeedbackReceivedData


EVENT_CLASSES: tuple[type[Envelope], ...] = (
    TicketCreated,
    TicketAssigned,
    TicketReplied,
    TicketResolved,
    SlaMet,
    SlaBreached,
    SurveySent,
    SurveySentV2,
    FeedbackReceived,
    StaffTokenRevoked,
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
    | SlaMet
    | SlaBreached
    | SurveySent
    | SurveySentV2
    | FeedbackReceived
    | StaffTokenRevoked,
    Field(discriminator="type"),
]
ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(raw: dict[str, Any]) -> AnyEvent:
    """Validate a decoded message into its typed event; raises `pydantic.ValidationError`."""
    return ANY_EVENT.validate_python(raw)
