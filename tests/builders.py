"""`create_*` builders of events, as the producing services emit them: one module covering every
event type, stamped by the producers' own `build_event` (so correlation and causation follow
the same rule as in production)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ticketloop_shared.events import (
    ClockKind,
    Envelope,
    FeedbackReceived,
    FeedbackReceivedData,
    SlaBreached,
    SlaBreachedData,
    SlaMet,
    SlaMetData,
    StaffTokenRevoked,
    SurveySent,
    SurveySentData,
    SurveySentV2,
    SurveySentV2Data,
    TicketAssigned,
    TicketAssignedData,
    TicketCreated,
    TicketCreatedData,
    TicketRef,
    TicketReplied,
    TicketRepliedData,
    TicketResolved,
    TicketResolvedData,
    TokenRevokedData,
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

    def created(self, *, need: str = "refund") -> TicketCreated:
        """`ticket.created` from intake."""
        data = TicketCreatedData(**self.ref(), need=need)
        return _event(TicketCreated, data, source="intake", time=self.created_at)

    def assigned(self, when: datetime, agent: str = "agent-1", *, cause: Envelope | None = None) -> TicketAssigned:
        """`ticket.assigned` from routing (caused by `ticket.created`)."""
        data = TicketAssignedData(
            ticket_id=self.ticket_id,
            department_id="dept-1",
            department_name="After-sales",
            agent_id=agent,
            agent_name=agent.title(),
            assigned_at=when,
        )
        return _event(TicketAssigned, data, source="routing", time=when, cause=cause or self.created())

    def replied(self, when: datetime, *, first: bool = True) -> TicketReplied:
        """`ticket.replied` from intake."""
        data = TicketRepliedData(
            **self.ref(), message_id=new_id(), agent_id="agent-1", replied_at=when, first_response=first
        )
        return _event(TicketReplied, data, source="intake", time=when)

    def resolved(self, when: datetime, *, first_response_at: datetime | None = None) -> TicketResolved:
        """`ticket.resolved` from intake."""
        data = TicketResolvedData(
            **self.ref(), resolved_at=when, resolved_by="agent-1", first_response_at=first_response_at
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

    def every_event(self) -> list[Envelope]:
        """One of each event type about this ticket, in the order they would happen."""
        t = self.created_at
        first = t + timedelta(minutes=5)
        return [
            self.created(),
            self.assigned(t + timedelta(seconds=1)),
            self.replied(first),
            self.met(ClockKind.FIRST_RESPONSE, first),
            self.breached(ClockKind.RESOLUTION, t + timedelta(minutes=120)),
            self.resolved(t + timedelta(hours=3), first_response_at=first),
            self.survey_sent_v1(t + timedelta(hours=3)),
            self.survey_sent(t + timedelta(hours=3)),
            self.answered(t + timedelta(hours=5)),
            create_token_revoked(t + timedelta(hours=6)),
        ]


def create_token_revoked(when: datetime, *, sub: str = "agent-gone") -> StaffTokenRevoked:
    """`staff.token_revoked` as routing emits it: every token of `sub` issued until `when`."""
    data = TokenRevokedData(
        revocation_id=uuid.uuid4(), sub=sub, issued_before=when, expires_at=when + timedelta(days=90)
    )
    event = build_event(data, source="routing", time=when, subject=sub)
    assert isinstance(event, StaffTokenRevoked)
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
