"""The public face of tickets, and the rules of staff, channels and customers working a ticket
through its lifecycle. Other features reach tickets only through this module: opening tickets
(`creation.py`), what routing and sla report back (`reported.py`) and the shared core
(`lifecycle.py`) are re-exported here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.attachments import service as attachments
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers import service as customers
from ticketloop_intake.customers.service import ERASED, keys_for_opening, open_field
from ticketloop_intake.db import audit
from ticketloop_intake.knowledge import service as knowledge
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import links, repository
from ticketloop_intake.tickets.creation import REPEAT_STATUS as REPEAT_STATUS
from ticketloop_intake.tickets.creation import as_seen_by as as_seen_by
from ticketloop_intake.tickets.creation import create_ticket as create_ticket
from ticketloop_intake.tickets.creation import open_proactive as open_proactive
from ticketloop_intake.tickets.domain import (
    Action,
    SlaClocks,
    Status,
    check_access,
    check_care_outcome,
    etag,
    matches_version,
    next_status,
)
from ticketloop_intake.tickets.lifecycle import (
    Personal,
    add_customer_message,
    add_entry,
    check_reopenable,
    custody,
    locked,
    move,
    open_ticket,
    reopened,
    resolved_data,
    ticket_ref,
)
from ticketloop_intake.tickets.lifecycle import TicketView as TicketView
from ticketloop_intake.tickets.lifecycle import view as view
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.outbound import ChannelFacts as ChannelFacts
from ticketloop_intake.tickets.outbound import acknowledge as acknowledge
from ticketloop_intake.tickets.outbound import acknowledge_many as acknowledge_many
from ticketloop_intake.tickets.outbound import acknowledgement_queued as acknowledgement_queued
from ticketloop_intake.tickets.outbound import channel_client_of as channel_client_of
from ticketloop_intake.tickets.outbound import channel_facts as channel_facts
from ticketloop_intake.tickets.reported import record_assignments as record_assignments
from ticketloop_intake.tickets.reported import record_clocks as record_clocks
from ticketloop_intake.tickets.reported import record_queued as record_queued
from ticketloop_intake.tickets.schemas import (
    FollowUpCreate,
    MessageCreate,
    NoteCreate,
    PlanCommit,
    ReopenRequest,
    ReplyCreate,
    ResolveRequest,
    TicketPatch,
    UpdateCreate,
    WaitRequest,
)
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Forbidden, Gone, NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import (
    ClockView,
    CustomerErasedData,
    TicketClosedData,
    TicketConnectedData,
    TicketFollowedUpData,
    TicketPlanCommittedData,
    TicketPriorityChangedData,
    TicketRecategorisedData,
    TicketRepliedData,
    TicketUpdatedData,
)


async def _for_staff(uow: IntakeUnit, ticket_id: uuid.UUID, staff: Principal, action: Action) -> Ticket:
    """The ticket, locked, once `staff` may take `action` on it (else 403 with the reason)."""
    ticket = await locked(uow.session, ticket_id)
    check_access(staff, custody(ticket), action)
    return ticket


async def _for_channel(uow: IntakeUnit, ticket_id: uuid.UUID, client: ChannelClientView) -> Ticket:
    """The ticket, locked, if this channel client created it (another client's is not found)."""
    ticket = await locked(uow.session, ticket_id)
    if ticket.channel_client_id != client.id:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


def _agent(staff: Principal) -> str:
    return f"agent:{staff.sub}" if staff.role is not Role.ADMIN else f"admin:{staff.sub}"


async def reply(uow: IntakeUnit, *, ticket_id: uuid.UUID, message: ReplyCreate, agent: Principal) -> Ticket:
    """Send the owner's reply to the customer; the first one stops the first-response clock."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.REPLY)
    files = attachments.check(message.attachments, uow.settings)
    move(uow, ticket, Action.REPLY, actor=_agent(agent))
    now = uow.now()
    first = ticket.first_response_at is None
    if first:
        ticket.first_response_at = now
    entry = await add_entry(uow, ticket, "reply", _agent(agent), personal=message.body, files=files)
    await uow.session.flush()
    uow.emit(
        TicketRepliedData(
            **ticket_ref(ticket), message_id=entry.id, agent_id=agent.sub, replied_at=now, first_response=first
        )
    )
    return ticket


async def add_note(uow: IntakeUnit, *, ticket_id: uuid.UUID, note: NoteCreate, staff: Principal) -> Ticket:
    """An internal note for colleagues of the department (never shown to the channel, no event)."""
    ticket = await _for_staff(uow, ticket_id, staff, Action.NOTE)
    ticket.updated_at = uow.now()
    await add_entry(uow, ticket, "note", _agent(staff), personal=note.body)
    return ticket


async def commit_plan(uow: IntakeUnit, *, ticket_id: uuid.UUID, plan: PlanCommit, agent: Principal) -> Ticket:
    """Tell the customer how and by when the problem will be solved (SPEC §2: a solution or an
    explicit handling deadline within 2 hours); a later plan replaces the commitment."""
    now = uow.now()
    if plan.committed_resolution_at <= now:
        raise Unprocessable(
            "committed_resolution_at must be in the future",
            code="committed_time_in_past",
            details={"now": now.isoformat()},
        )
    ticket = await _for_staff(uow, ticket_id, agent, Action.PLAN)
    move(uow, ticket, Action.PLAN, actor=_agent(agent))
    ticket.committed_resolution_at = plan.committed_resolution_at
    ticket.plan_committed_at = now
    await add_entry(uow, ticket, "plan", _agent(agent), personal=plan.summary)
    uow.emit(
        TicketPlanCommittedData(
            **ticket_ref(ticket),
            agent_id=agent.sub,
            committed_at=now,
            committed_resolution_at=plan.committed_resolution_at,
        )
    )
    return ticket


async def send_update(uow: IntakeUnit, *, ticket_id: uuid.UUID, update: UpdateCreate, agent: Principal) -> Ticket:
    """A progress update to the customer (the 24-hour rule counts these)."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.UPDATE)
    move(uow, ticket, Action.UPDATE, actor=_agent(agent))
    now = uow.now()
    ticket.last_update_at = now
    entry = await add_entry(uow, ticket, "update", _agent(agent), personal=update.body)
    uow.emit(TicketUpdatedData(**ticket_ref(ticket), message_id=entry.id, agent_id=agent.sub, updated_at=now))
    return ticket


async def wait_on_customer(uow: IntakeUnit, *, ticket_id: uuid.UUID, request: WaitRequest, agent: Principal) -> Ticket:
    """Ask the customer for something; the ticket waits on them until they answer."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.WAIT)
    move(uow, ticket, Action.WAIT, actor=_agent(agent))
    await add_entry(uow, ticket, "waiting", _agent(agent), personal=request.body)
    return ticket


async def change(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, patch: TicketPatch, if_match: str, staff: Principal
) -> Ticket:
    """Change urgency and/or category (routing re-scores or moves the ticket) over the version
    the caller read (`If-Match`; 412 `ticket_changed` when someone changed them since); a real
    change bumps the version, an unchanged value is no change and announces nothing."""
    ticket = await _for_staff(
        uow, ticket_id, staff, Action.RECATEGORISE if patch.category is not None else Action.CHANGE_PRIORITY
    )
    if not matches_version(if_match, ticket.version):
        raise PreconditionFailed(
            "the ticket's urgency or category changed since you read it; read it again and re-apply your change",
            code="ticket_changed",
            details={"current_etag": etag(ticket.version)},
        )
    before = (ticket.urgency, ticket.category)
    ticket = await _changed(uow, ticket, patch, staff)
    if (ticket.urgency, ticket.category) != before:
        ticket.version += 1
    return ticket


async def _changed(uow: IntakeUnit, ticket: Ticket, patch: TicketPatch, staff: Principal) -> Ticket:
    now, actor = uow.now(), _agent(staff)
    if patch.urgency is not None and patch.urgency.value != ticket.urgency:
        next_status(Status(ticket.status), Action.CHANGE_PRIORITY)
        previous, ticket.urgency = ticket.urgency, patch.urgency.value
        ticket.updated_at = now
        await add_entry(uow, ticket, "priority_changed", actor, note=f"{previous} → {ticket.urgency}")
        uow.emit(
            TicketPriorityChangedData(**ticket_ref(ticket), previous_urgency=previous, changed_by=actor, changed_at=now)
        )
    if patch.category is not None and patch.category.value != ticket.category:
        next_status(Status(ticket.status), Action.RECATEGORISE)
        previous, ticket.category = ticket.category, patch.category.value
        ticket.updated_at = now
        await add_entry(uow, ticket, "recategorised", actor, note=f"{previous} → {ticket.category}")
        uow.emit(
            TicketRecategorisedData(**ticket_ref(ticket), previous_category=previous, changed_by=actor, changed_at=now)
        )
    return ticket


async def resolve(uow: IntakeUnit, *, ticket_id: uuid.UUID, request: ResolveRequest, agent: Principal) -> Ticket:
    """Mark the problem solved; this starts the feedback step and the customer's window to
    confirm or reopen. A care contact is completed with its outcome (and only a care contact)."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.RESOLVE)
    check_care_outcome(ticket.origin, request.outcome)
    move(uow, ticket, Action.RESOLVE, actor=_agent(agent))
    now = uow.now()
    ticket.resolved_at = now
    ticket.resolved_by = agent.sub
    ticket.self_service = False
    ticket.resolved_by_article = None
    if request.outcome is not None:
        ticket.care_outcome, ticket.next_due_at = request.outcome.value, None
    await add_entry(uow, ticket, "resolved", _agent(agent), personal=request.resolution)
    await uow.session.flush()
    uow.emit(resolved_data(ticket, by=agent.sub))
    return ticket


async def solve_by_article(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, article_id: uuid.UUID, client: ChannelClientView
) -> Ticket:
    """The customer's question was answered by a knowledge-base article: the ticket is resolved
    as self-service (first-contact resolution, no agent)."""
    if not await knowledge.article_exists_active(uow.session, article_id):
        raise NotFound(f"no active article with id {article_id}", code="article_not_found")
    ticket = await _for_channel(uow, ticket_id, client)
    actor = f"channel:{client.name}"
    move(uow, ticket, Action.RESOLVE, actor=actor)
    now = uow.now()
    ticket.resolved_at, ticket.resolved_by = now, "self_service"
    ticket.self_service, ticket.resolved_by_article = True, article_id
    await add_entry(uow, ticket, "resolved", actor, note=f"solved by article {article_id}")
    await uow.session.flush()
    uow.emit(resolved_data(ticket, by="self_service", self_service=True, article_id=article_id))
    return ticket


async def follow_up(uow: IntakeUnit, *, ticket_id: uuid.UUID, visit: FollowUpCreate, agent: Principal) -> Ticket:
    """Record the post-resolution follow-up with the customer (SPEC §2: within 2 hours)."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.FOLLOW_UP)
    move(uow, ticket, Action.FOLLOW_UP, actor=_agent(agent))
    now = uow.now()
    ticket.followed_up_at = now
    assert ticket.resolved_at is not None  # a resolved or closed ticket was resolved
    await add_entry(uow, ticket, "follow_up", _agent(agent), personal=visit.body)
    uow.emit(
        TicketFollowedUpData(
            **ticket_ref(ticket), agent_id=agent.sub, followed_up_at=now, resolved_at=ticket.resolved_at
        )
    )
    return ticket


async def connected(uow: IntakeUnit, *, ticket_id: uuid.UUID, agent: Principal) -> Ticket:
    """The ticket's owner says a person is now connected with the customer waiting live (the call
    is picked up, the chat answered): `ticket.connected`, which meets the live-access clock. Only
    the assignee may say so (routing choosing someone connects nobody); a repeat changes nothing."""
    ticket = await locked(uow.session, ticket_id)
    check_access(agent, custody(ticket))
    if ticket.assignee_id != agent.sub:
        raise Forbidden(
            "only the ticket's assignee can say they are connected with the customer",
            code="not_the_assignee",
            details={"assignee_id": ticket.assignee_id, "action": "connected"},
        )
    if ticket.connected_at is None:
        now = uow.now()
        ticket.connected_at = now
        uow.emit(TicketConnectedData(**ticket_ref(ticket), connected_at=now, agent_id=agent.sub))
    return ticket


async def message_from_channel(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, message: MessageCreate, client: ChannelClientView
) -> Ticket:
    """A customer message through the channel that reported the problem, with its files."""
    ticket = await _for_channel(uow, ticket_id, client)
    files = attachments.check(message.attachments, uow.settings)
    await add_customer_message(
        uow, ticket=ticket, text=message.body, actor=f"channel:{client.name}", via="channel", files=files
    )
    return ticket


async def confirm(uow: IntakeUnit, *, ticket: Ticket, actor: str) -> Ticket:
    """The customer confirms the solution: the ticket is closed."""
    move(uow, ticket, Action.CONFIRM, actor=actor)
    now = uow.now()
    ticket.closed_at = now
    await add_entry(uow, ticket, "closed", actor, note="confirmed by the customer")
    uow.emit(
        TicketClosedData(
            **ticket_ref(ticket), closed_at=now, resolved_at=ticket.resolved_at, automatic=False, actor=actor
        )
    )
    return ticket


async def reopen(uow: IntakeUnit, *, ticket: Ticket, request: ReopenRequest, actor: str) -> Ticket:
    """The customer says the problem is not solved (within the reopen window)."""
    check_reopenable(uow, ticket)
    previous = move(uow, ticket, Action.REOPEN, actor=actor)
    await add_entry(uow, ticket, "reopened", actor, personal=request.reason)
    reopened(uow, ticket, previous, reason="customer_request", actor=actor)
    return ticket


async def for_channel(uow: IntakeUnit, ticket_id: uuid.UUID, client: ChannelClientView) -> Ticket:
    """The ticket, locked, for a change its channel asks for on the customer's behalf."""
    return await _for_channel(uow, ticket_id, client)


async def for_link(uow: IntakeUnit, token: str) -> Ticket:
    """The ticket a customer's link names, locked; 410 once the link has expired or a newer
    resolution replaced it."""
    claim = links.verify(uow.settings.customer_link_key, token)
    ticket = await locked(uow.session, claim.ticket_id)
    check_link(uow.settings, ticket, claim, now=uow.now())
    return ticket


def check_link(settings: IntakeSettings, ticket: Ticket, claim: links.LinkClaim, *, now: datetime) -> None:
    """Refuse a link for an earlier resolution, or one past its window."""
    if not links.same_instant(ticket.resolved_at, claim.resolved_at):
        raise Gone("this link was replaced by a newer one", code="link_superseded")
    if now > claim.resolved_at + timedelta(days=settings.reopen_window_days):
        raise Gone("this link has expired", code="link_expired")


def link_for(settings: IntakeSettings, ticket: Ticket, now: datetime) -> tuple[str, datetime] | None:
    """The customer's confirm-or-reopen link while the ticket is resolved and within its window."""
    if ticket.status != Status.RESOLVED.value or ticket.resolved_at is None:
        return None
    expires = ticket.resolved_at + timedelta(days=settings.reopen_window_days)
    if now > expires:
        return None
    token = links.issue(settings.customer_link_key, ticket.id, ticket.resolved_at)
    return f"{settings.public_base_url}/v1/customer-links/{token}", expires


_STORED_CLOCKS = TypeAdapter(list[ClockView])


def sla_clocks(ticket: Ticket) -> SlaClocks | None:
    """sla's latest publication as stored on the ticket; None until sla has published any."""
    if ticket.sla_version is None or ticket.sla_policy_id is None or ticket.sla_clocks is None:
        return None
    clocks = _STORED_CLOCKS.validate_python(ticket.sla_clocks)
    return SlaClocks(policy_id=ticket.sla_policy_id, version=ticket.sla_version, clocks=tuple(clocks))


async def read(
    session: AsyncSession, ticket_id: uuid.UUID, settings: IntakeSettings, *, channel_client_id: uuid.UUID | None = None
) -> TicketView:
    """A ticket with its timeline; with `channel_client_id`, only one that client created
    (another client's ticket is not found, never forbidden: its existence is not revealed)."""
    ticket = await repository.get(session, ticket_id)
    if ticket is None or (channel_client_id is not None and ticket.channel_client_id != channel_client_id):
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return await view(session, ticket, settings)


async def read_by_number(session: AsyncSession, number: str, settings: IntakeSettings) -> TicketView:
    """The ticket with this number, with its timeline (404 when there is none)."""
    ticket = await repository.by_number(session, number)
    if ticket is None:
        raise NotFound(f"no ticket with number {number}", code="ticket_not_found")
    return await view(session, ticket, settings)


async def for_reading(
    session: AsyncSession, ticket_id: uuid.UUID, settings: IntakeSettings, *, staff: Principal
) -> tuple[Ticket, Personal]:
    """A ticket and its personal texts opened (no timeline), for `staff` who may read it (else
    403; an unknown ticket is 404)."""
    ticket = await repository.get(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    check_access(staff, custody(ticket))
    key = (await keys_for_opening(session, [ticket.customer_id], settings))[ticket.customer_id]
    return ticket, open_ticket(key, ticket)


async def attachment(
    session: AsyncSession,
    settings: IntakeSettings,
    *,
    ticket_id: uuid.UUID,
    attachment_id: uuid.UUID,
    staff: Principal | None = None,
    channel_client_id: uuid.UUID | None = None,
) -> attachments.Download:
    """A file attached to the ticket, for `staff` who may read the ticket (else 403) or for the
    channel client that created it (another client's ticket is not found)."""
    ticket = await repository.get(session, ticket_id)
    if ticket is None or (channel_client_id is not None and ticket.channel_client_id != channel_client_id):
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    if staff is not None:
        check_access(staff, custody(ticket))
    return await attachments.download(session, settings, ticket_id=ticket_id, attachment_id=attachment_id)


async def subjects(session: AsyncSession, tickets: Sequence[Ticket], settings: IntakeSettings) -> list[str]:
    """The opened subjects of a page of tickets (one key lookup for the page's customers)."""
    keys = await keys_for_opening(session, [t.customer_id for t in tickets], settings)
    return [open_field(keys[t.customer_id], t.customer_id, "subject", t.subject) or ERASED for t in tickets]


async def channel_references(session: AsyncSession, tickets: Sequence[Ticket], settings: IntakeSettings) -> list[str]:
    """The customer ids of a page of tickets as their channel knows them: its own reference
    (the pseudonym once erased)."""
    keys = await keys_for_opening(session, [t.customer_id for t in tickets], settings)
    return [
        open_field(keys[t.customer_id], t.customer_id, "reference", t.customer_reference) or t.customer_id
        for t in tickets
    ]


async def linked_ticket(uow: IntakeUnit, ticket_id: uuid.UUID | None) -> Ticket | None:
    """The ticket a low score is about, if intake has it."""
    return None if ticket_id is None else await repository.get(uow.session, ticket_id)


async def made_under_key(session: AsyncSession, *, scope: str, key: str) -> tuple[uuid.UUID, str] | None:
    """The id and number of the ticket created with this Idempotency-Key, if it was."""
    return await repository.made_under_key(session, scope=scope, key=key)


async def _customer_on_file(uow: IntakeUnit, value: str) -> Ticket:
    """The newest ticket of the customer `value` names (their pseudonym, or a channel's reference
    for them): 404 when intake has none."""
    ticket = await repository.latest_of_customer(uow.session, customers.customer_ids_for(uow.settings, value))
    if ticket is None:
        raise NotFound("intake has no data of this customer", code="customer_not_found")
    return ticket


async def erase_customer(uow: IntakeUnit, *, customer_id: str, by: Principal) -> None:
    """Erase a customer's personal data: destroy their key (every sealed value, their channel's
    reference for them too, becomes unreadable), overwrite anything stored before sealing and
    delete their tickets' search tokens; tickets and their facts stay. `customer.erased` tells
    every other service, in the same transaction, to forget what it holds of the customer.
    `customer_id` may be the pseudonym or the channel's reference."""
    session = uow.session
    customer_id = (await _customer_on_file(uow, customer_id)).customer_id
    destroyed = await customers.destroy_key(session, customer_id, now=uow.now())
    await repository.erase_unsealed(
        session, customer_id, clear_mark=customers.CLEAR_MARK, erased=customers.ERASED_VALUE
    )
    # The search tokens hide their words but are still derived from the texts: they go too.
    words = await repository.erase_words(session, customer_id)
    files = await attachments.erase_customer(session, customer_id, now=uow.now())
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="customer.personal_data_erased",
        subject=f"customer:{customer_id}",
        details={"key_destroyed": destroyed, "search_tokens_deleted": words, "attachments_erased": files},
    )
    uow.emit(CustomerErasedData(customer_id=customer_id, erased_at=uow.now()), subject=customer_id)


async def unmasked(uow: IntakeUnit, *, customer_id: str, by: Principal) -> Personal:
    """The customer's latest name and contact in clear, for a reason an admin answers for:
    the read itself is recorded. `customer_id` may be the pseudonym or the channel's reference."""
    session = uow.session
    ticket = await _customer_on_file(uow, customer_id)
    stored = ticket.customer_id
    key = (await keys_for_opening(session, [stored], uow.settings))[stored]
    await audit_log.record(session, audit, actor=by, action="customer.personal_data_read", subject=f"customer:{stored}")
    return open_ticket(key, ticket)


async def reference_of(uow: IntakeUnit, *, pseudonym: str, by: Principal) -> str:
    """The channel's own reference for the customer with this pseudonym, for an admin who answers
    for the read (recorded); 404 when intake has none or it was erased."""
    session = uow.session
    ticket = await repository.latest_of_customer(session, [pseudonym])
    key = (await keys_for_opening(session, [pseudonym], uow.settings))[pseudonym] if ticket is not None else None
    reference = open_ticket(key, ticket).reference if ticket is not None else None
    if reference is None:
        raise NotFound("intake holds no readable reference for this customer", code="customer_not_found")
    await audit_log.record(session, audit, actor=by, action="customer.reference_read", subject=f"customer:{pseudonym}")
    return reference


async def closed_texts_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """Retention's dry run: tickets closed before `cutoff` that still hold personal texts, and
    the oldest closing."""
    return await repository.closed_texts_due(session, cutoff, erased=customers.ERASED_VALUE)


async def erase_closed_texts(session: AsyncSession, cutoff: datetime, *, limit: int, now: datetime) -> int:
    """Retention: erase in place the personal texts (and attached files, and search tokens) of at
    most `limit` tickets closed before `cutoff`; the tickets, their timeline and facts stay, so
    reports still count them. How many tickets."""
    ids = await repository.erase_closed_texts(session, cutoff, erased=customers.ERASED_VALUE, limit=limit)
    if ids:
        await attachments.erase_tickets(session, ids, now=now)
    return len(ids)


async def quiet_customers_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """Retention's dry run: customers holding a key though all their tickets closed before `cutoff`."""
    return await repository.quiet_customers_due(session, cutoff)


async def retire_quiet_keys(session: AsyncSession, cutoff: datetime, *, limit: int, now: datetime) -> int:
    """Retention: destroy the keys of at most `limit` customers whose every ticket closed before
    `cutoff` (nothing sealed with them is kept any longer); how many."""
    quiet = await repository.quiet_customers(session, cutoff, limit=limit)
    return await customers.retire_keys(session, quiet, now=now)
