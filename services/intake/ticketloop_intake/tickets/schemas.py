"""HTTP shapes of tickets: what channels send, what they and agents get back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketloop_intake.attachments.schemas import MAX_LISTED, AttachmentIn, AttachmentOut
from ticketloop_intake.knowledge.schemas import SuggestionOut
from ticketloop_intake.orders.schemas import OrderAnswerOut
from ticketloop_shared.events import CareOutcome, ClockKind, ClockOutcome, TicketOrigin
from ticketloop_shared.validation import STORABLE, Change, FiniteFloat, Instant, Text
from ticketloop_shared.vocabulary import Category, Channel, Need, Urgency
from ticketloop_shared.vocabulary import TicketStatus as Status

# A skill routing matches agents on, `kind:value` (e.g. `language:fr`, `product:router`).
Skill = Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[a-z0-9_]+:[A-Za-z0-9_.-]+$")]


class CustomerIn(BaseModel):
    """The customer as the channel knows them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Text = Field(min_length=1, max_length=100)
    name: Text = Field(min_length=1, max_length=200)
    contact: Annotated[str, Field(max_length=200), STORABLE] | None = None
    customer_since: date | None = None
    annual_spend: FiniteFloat | None = Field(default=None, ge=0)
    preferred_channel: Channel | None = None


class TicketCreate(BaseModel):
    """A problem reported by a channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel
    customer: CustomerIn
    category: Category
    need: Need = Need.INFORMATION
    urgency: Urgency = Urgency.NORMAL
    subject: Text = Field(min_length=1, max_length=200)
    description: Text = Field(min_length=1, max_length=10_000)
    expected_resolution_at: Instant | None = None
    required_skills: list[Skill] = Field(default_factory=list, max_length=10)
    # A report of a problem the customer already has open (same category and subject) is added
    # to that ticket; `true` makes it a new ticket regardless.
    new_ticket: bool = False
    live_session: bool = Field(
        default=False,
        description="True while the customer is waiting in a live session (a chat or messaging conversation, "
        "a call): sla then runs the 30-second access clock. Phone tickets count as live whatever this says "
        "(sla decides; intake passes the flag on in `ticket.created`).",
    )


class _Written(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Text = Field(min_length=1, max_length=10_000)


class ReplyCreate(_Written):
    """An agent's answer to the customer, with files attached if any."""

    attachments: list[AttachmentIn] = Field(
        default_factory=list,
        max_length=MAX_LISTED,
        description="JPEG, PNG, GIF, WebP or PDF files (type checked from the content: 415 "
        "`attachment_type_not_allowed`), within the size and count limits (413 `attachment_too_large`, "
        "`attachments_too_large`; 422 `too_many_attachments`, `invalid_base64`, `invalid_filename`).",
    )


class NoteCreate(_Written):
    """An internal note for colleagues; never shown to the channel or the customer."""


class UpdateCreate(_Written):
    """A progress update sent to the customer (the 24-hour rule counts these)."""


class MessageCreate(ReplyCreate):
    """The customer writing again, through their channel, with files attached if any."""


class WaitRequest(BaseModel):
    """What the agent needs from the customer before going on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Text = Field(min_length=1, max_length=10_000, description="The question sent to the customer.")


class PlanCommit(BaseModel):
    """How the problem will be solved and by when: both are told to the customer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    summary: Text = Field(min_length=1, max_length=5_000)
    committed_resolution_at: Instant


class TicketPatch(Change):
    """A change of urgency or category by staff (routing re-evaluates the ticket); neither clears."""

    urgency: Urgency | None = None
    category: Category | None = None

    @model_validator(mode="after")
    def _something(self) -> TicketPatch:
        if self.urgency is None and self.category is None:
            raise ValueError("send `urgency`, `category` or both")
        return self


class FollowUpCreate(BaseModel):
    """The post-resolution visit: what the customer said."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Text = Field(min_length=1, max_length=5_000)
    satisfied: bool | None = None


class ReopenRequest(BaseModel):
    """Why the customer says the problem is not solved."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Text = Field(min_length=1, max_length=5_000)


class ResolveRequest(BaseModel):
    """How the problem was solved (for a care contact: how the contact went, and its outcome)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resolution: Text = Field(min_length=1, max_length=5_000)
    outcome: CareOutcome | None = Field(
        default=None,
        description="Required on a care ticket (origin `care`), refused on any other (422 `care_outcome_required`, "
        "`care_outcome_not_applicable`): `reached`, `no_answer` (a retry is made due, backing off, until the "
        "attempts run out), `declined`, `follow_up` (a follow-up contact is made due).",
    )


class CustomerOut(BaseModel):
    """The customer, contact details masked; after an erasure the name reads `[erased]` and the
    contact null."""

    id: str
    name: str
    contact_masked: str | None
    customer_since: date | None
    annual_spend: float | None
    preferred_channel: str | None


class AssigneeOut(BaseModel):
    """Who owns the ticket."""

    agent_id: str
    agent_name: str
    department_id: str
    department_name: str
    assigned_at: datetime


_DUE = (
    "as sla last published it (`sla.clocks_changed`; sla owns every deadline): the due instant of the "
    "clock's current cycle while it is still owed (running, or breached and not yet stopped, then in the past). "
    "Null until sla has published the ticket's clocks, while the clock is paused, once it has stopped, or when "
    "sla runs no such clock for the ticket."
)


class DeadlinesOut(BaseModel):
    """When the ticket's main commitments fall due, from sla's clocks (see `sla` for all of them)."""

    acknowledgement_due: datetime | None = Field(description=f"The acknowledgement deadline, {_DUE}")
    first_response_due: datetime | None = Field(description=f"The first human response deadline, {_DUE}")
    resolution_due: datetime | None = Field(
        description=f"The deadline for a solution or an explicit handling plan, {_DUE}"
    )


class SlaClockOut(BaseModel):
    """One of sla's clocks on the ticket (one per metric, its current cycle), as sla published it."""

    clock: ClockKind = Field(description="The metric measured.")
    cycle: int = Field(
        description="Which cycle of the metric, from 1 (periodic updates and next replies run one cycle after another)."
    )
    status: ClockOutcome = Field(
        description="`running` or `paused` while it counts; then `met`, `breached` (a breached cycle counts on "
        "until it is stopped) or `cancelled` (no longer owed)."
    )
    started_at: datetime = Field(description="When the cycle started.")
    due_at: datetime | None = Field(description="When it falls due; null while paused (no due instant until it runs).")
    target_seconds: float = Field(description="The target, in business seconds of the policy's calendar.")
    paused_seconds: float = Field(description="Wall-clock seconds spent paused so far.")
    stopped_at: datetime | None = Field(description="When the cycle stopped (met, cancelled, or kept late).")
    breached_at: datetime | None = Field(description="When the cycle passed its due instant, if it did.")


class SlaOut(BaseModel):
    """sla's latest publication about the ticket: the policy it is measured on and every clock."""

    policy_id: str = Field(description="The sla policy the clocks follow.")
    version: int = Field(description="Grows with each change sla publishes; the read-back shows the highest seen.")
    clocks: list[SlaClockOut] = Field(description="Every clock of the ticket as it now stands.")


class RoutingReasonOut(BaseModel):
    """Why routing placed the ticket as it did, on an `assigned`, `reassigned` or `queued` entry."""

    rule: str = Field(
        description="The rule that decided: routing's own (e.g. `least_loaded`, a VIP rule) or a person's act: "
        "`taken`, `assigned_by`, `transferred`."
    )
    strategy: str | None = Field(default=None, description="Routing's strategy at the time.")
    score: float | None = Field(default=None, description="The ticket's priority score then (higher goes first).")
    actor: str | None = Field(
        default=None, description="Who acted (`agent:<sub>`, `supervisor:<sub>`, `admin:<sub>`); null for routing."
    )
    note: str | None = Field(default=None, description="The note the person gave (an override, a transfer).")


class TimelineEntryOut(BaseModel):
    """One thing that happened to the ticket (`body` null once the customer's data is erased)."""

    id: uuid.UUID
    at: datetime
    kind: str
    actor: str
    body: str | None
    reason: RoutingReasonOut | None = Field(
        default=None,
        description="On an assignment or queue entry, routing's reason (staff only; null for the channel and on "
        "entries from before reasons were kept).",
    )
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="Files sent with a customer message or a reply (download each by id)."
    )


class ResolutionTimesOut(BaseModel):
    """Expected and actual resolution times, both kept (SPEC §2)."""

    expected_by_customer: datetime | None
    committed: datetime | None
    committed_at: datetime | None
    actual: datetime | None


class SolvedByArticle(BaseModel):
    """The customer says a suggested article answered their question."""

    model_config = ConfigDict(extra="forbid")

    article_id: uuid.UUID


class CustomerLinkOut(BaseModel):
    """A no-login link the customer uses to confirm the solution or reopen the problem."""

    url: str
    expires_at: datetime


class TicketOut(BaseModel):
    """The normalised ticket, as read back to the channel and shown to agents (`subject` and
    `description` read `[erased]` once the customer's personal data is erased)."""

    id: uuid.UUID
    number: str
    status: Status
    channel: Channel
    category: Category
    need: Need
    urgency: Urgency
    subject: str
    description: str
    customer: CustomerOut
    assignee: AssigneeOut | None
    deadlines: DeadlinesOut = Field(
        description="Acknowledgement, first response and resolution deadlines, as sla last published them."
    )
    sla: SlaOut | None = Field(
        description="Every sla clock of the ticket, from sla's latest `sla.clocks_changed`; null until sla has "
        "published any (it does shortly after creation: null in the answer that creates the ticket)."
    )
    expected_resolution_at: datetime | None
    required_skills: list[str]
    resolution_times: ResolutionTimesOut
    created_at: datetime
    first_response_at: datetime | None
    last_update_at: datetime | None
    waiting_since: datetime | None
    resolved_at: datetime | None
    self_service: bool
    followed_up_at: datetime | None
    closed_at: datetime | None
    reopened_at: datetime | None
    reopen_count: int
    version: int = Field(
        description="The version of what staff edit (urgency, category), also sent as `ETag`: a `PATCH` names it in "
        "`If-Match`"
    )
    origin: TicketOrigin = Field(
        default=TicketOrigin.CUSTOMER,
        description="`customer` for a reported problem; `recovery` (a low survey score) or `care` (a care contact) "
        "for a ticket the system opened itself on channel `proactive`.",
    )
    origin_id: str | None = Field(default=None, description="The survey (recovery) or care task (care) behind it.")
    linked_ticket_id: uuid.UUID | None = Field(default=None, description="A recovery ticket: the ticket it is about.")
    due_at: datetime | None = Field(
        default=None,
        description="A care ticket: when its contact is due. A care contact is a task: it runs no sla clocks.",
    )
    outcome: CareOutcome | None = Field(default=None, description="A resolved care ticket: how the contact went.")
    customer_link: CustomerLinkOut | None = Field(
        default=None, description="While the ticket is resolved: the customer's confirm-or-reopen link."
    )
    repeat_contact: bool = Field(
        default=False, description="True in the answer to a report that was added to this existing ticket."
    )
    suggestions: list[SuggestionOut] = Field(
        default_factory=list,
        description="In the answer to a new report: up to 3 knowledge-base articles that may answer it (the "
        "channel may then report it solved by one; the ticket is routed to a person meanwhile).",
    )
    order_status: OrderAnswerOut | None = Field(
        default=None,
        description="In the answer to a new report asking about an order (need `information`, and category "
        '`logistics_delay`, the word "order" or one of the customer\'s order ids in the text): the knowledge '
        "base's instant answer from the customer's latest (or named) order. The ticket is recorded all the same.",
    )
    timeline: list[TimelineEntryOut]


class CustomerTicketOut(BaseModel):
    """What the customer's no-login link shows: the ticket's number and state, no more."""

    number: str
    status: Status
    resolved_at: datetime | None
    closed_at: datetime | None
    can_confirm: bool
    can_reopen: bool
    expires_at: datetime


class TicketSummary(BaseModel):
    """A ticket in a list."""

    id: uuid.UUID
    number: str
    status: Status
    channel: Channel
    category: Category
    urgency: Urgency
    subject: str
    customer_id: str
    department_id: str | None
    assignee_id: str | None
    created_at: datetime
    priority_score: float | None = Field(
        default=None,
        description="The priority score routing last gave the ticket (higher goes first); null until routing has "
        "placed it, and always null for a channel.",
    )
    next_due_at: datetime | None = Field(
        default=None,
        description="The earliest due instant among the ticket's sla clocks still owed (a breached one is in the "
        "past); null when none runs (paused, stopped, or not published yet).",
    )
    next_due_clock: ClockKind | None = Field(default=None, description="The metric of `next_due_at`.")
    origin: TicketOrigin = TicketOrigin.CUSTOMER
    due_at: datetime | None = Field(default=None, description="A care ticket: when its contact is due.")


class TicketPage(BaseModel):
    """One page of tickets, in the order asked for (newest first by default)."""

    items: list[TicketSummary]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class ProactiveTicket:
    """The facts of a ticket the system opens on its own (`proactive/` decides them), before it
    is numbered and sealed."""

    origin: TicketOrigin
    origin_id: str
    customer_id: str
    category: str
    need: str
    urgency: str
    subject: str
    description: str
    preferred_channel: str | None
    # A care contact: when it is due (a task's due date, instead of sla's clocks).
    due_at: datetime | None = None


class CustomerReferenceOut(BaseModel):
    """The reference a customer's channel knows them by, behind their pseudonymous id. Reading it
    is recorded in the audit log."""

    customer_id: str = Field(description="The pseudonymous id (`cus_…`) every other service and staff see")
    reference: str = Field(description="The channel's own customer id, as it sent it")


class PersonalDataOut(BaseModel):
    """A customer's name and contact in clear, as on their latest ticket (`[erased]` / null
    after an erasure). Reading it is recorded in the audit log."""

    customer_id: str
    name: str
    contact: str | None
