"""The rules of counter queues: a counter client hands out numbers, serves them as tickets
(through `tickets.service.create_ticket`) or cancels them; estimates follow the counter's
recent service rate."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.counters import domain, repository
from ticketloop_intake.counters.domain import EntryAction, EntryStatus, Pace
from ticketloop_intake.counters.models import Counter, QueueEntry
from ticketloop_intake.counters.schemas import CounterCreate, QueueTake, ServeRequest
from ticketloop_intake.customers.service import key_for_sealing, keys_for_opening, open_field, pseudonym_of, seal_field
from ticketloop_intake.db import audit
from ticketloop_intake.idempotency.service import Claim, KeyTaken
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.tickets.schemas import CustomerIn, TicketCreate
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unprocessable
from ticketloop_shared.ids import new_id
from ticketloop_shared.vocabulary import Channel

# The Idempotency-Key scope of the ticket a served entry becomes (the key is the entry id): the
# ticket is written in autocommit, so a serve whose own transaction then failed finds it on retry
# instead of creating a second one.
SERVE_SCOPE = "counter-serve"


@dataclass(frozen=True)
class EntryState:
    """A queue entry with what it means now: its place, its wait and its estimate."""

    entry: QueueEntry
    position: int | None
    waited: timedelta
    estimate: timedelta | None
    wait_exceeded: bool


@dataclass(frozen=True)
class QueueState:
    """A counter's live queue at `at`, and the pace of its estimates."""

    counter: Counter
    at: datetime
    pace: Pace
    entries: Sequence[EntryState]


def _require_counter_client(client: ChannelClientView) -> None:
    if Channel.COUNTER.value not in client.channels:
        raise Forbidden(
            f"channel client {client.name!r} may not use counter queues (channel 'counter')",
            code="channel_not_allowed",
        )


async def _counter(session: AsyncSession, name: str, *, for_update: bool = False) -> Counter:
    counter = await repository.get_counter(session, name, for_update=for_update)
    if counter is None:
        raise NotFound(f"no counter named {name!r}", code="counter_not_found")
    return counter


def owner_of(caller: ChannelClientView | Principal) -> uuid.UUID | None:
    """Whose numbers the caller may see: a channel client only its own (a counter's queue is
    owned per client, so one client never serves, cancels or reads another's customers); staff
    every number (None)."""
    return caller.id if isinstance(caller, ChannelClientView) else None


async def _entry(
    session: AsyncSession,
    counter: str,
    entry_id: uuid.UUID,
    *,
    owner: uuid.UUID | None,
    for_update: bool = False,
) -> QueueEntry:
    await _counter(session, counter)
    # Another client's number is as unknown as a missing one (404, not 403): existence does not leak.
    entry = await repository.get_entry(session, counter, entry_id, owner=owner, for_update=for_update)
    if entry is None:
        raise NotFound(f"no queue entry {entry_id} at counter {counter!r}", code="entry_not_found")
    return entry


async def register(session: AsyncSession, *, new: CounterCreate, by: Principal, now: datetime) -> Counter:
    """Register a counter (audited); its queue numbers start at 1 each local day."""
    if await repository.get_counter(session, new.name) is not None:
        raise Conflict(f"a counter named {new.name!r} exists", code="counter_exists")
    counter = Counter(name=new.name, prefix=new.prefix, time_zone=new.time_zone, created_at=now, created_by=by.sub)
    repository.add(session, counter)
    await session.flush()
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="counter.registered",
        subject=f"counter:{counter.name}",
        details={"prefix": counter.prefix, "time_zone": counter.time_zone},
    )
    return counter


async def all_counters(session: AsyncSession) -> Sequence[Counter]:
    """Every registered counter."""
    return await repository.counters(session)


async def _pace(session: AsyncSession, counter: str, settings: IntakeSettings, now: datetime) -> Pace:
    served = await repository.recent_serves(
        session,
        counter,
        since=now - timedelta(minutes=settings.counter_rate_window_minutes),
        limit=settings.counter_rate_sample,
    )
    return domain.pace(served, default=timedelta(minutes=settings.counter_default_service_minutes))


def _state(
    entry: QueueEntry, *, position: int | None, pace: Pace | None, now: datetime, limit: timedelta
) -> EntryState:
    left = entry.served_at or entry.cancelled_at
    until = left if left is not None else now
    exceeded = entry.wait_exceeded_at is not None or domain.wait_exceeded(entry.joined_at, until=until, limit=limit)
    return EntryState(
        entry=entry,
        position=position,
        waited=domain.waited(entry.joined_at, until=until),
        estimate=domain.estimated_wait(position, pace.per_position) if position and pace else None,
        wait_exceeded=exceeded,
    )


def _limit(settings: IntakeSettings) -> timedelta:
    return timedelta(minutes=settings.counter_wait_limit_minutes)


async def state(session: AsyncSession, entry: QueueEntry, settings: IntakeSettings, now: datetime) -> EntryState:
    """An entry as it now stands (its place and estimate while it waits)."""
    if entry.status != EntryStatus.WAITING.value:
        return _state(entry, position=None, pace=None, now=now, limit=_limit(settings))
    position = await repository.position(session, entry)
    pace = await _pace(session, entry.counter, settings, now)
    return _state(entry, position=position, pace=pace, now=now, limit=_limit(settings))


async def read_entry(
    session: AsyncSession,
    *,
    counter: str,
    entry_id: uuid.UUID,
    owner: uuid.UUID | None,
    settings: IntakeSettings,
    now: datetime,
) -> EntryState:
    """One entry of a counter as it now stands (404 unless it is `owner`'s, when given)."""
    return await state(session, await _entry(session, counter, entry_id, owner=owner), settings, now)


async def take(uow: IntakeUnit, *, counter: str, request: QueueTake, client: ChannelClientView) -> EntryState:
    """Give the customer the counter's next number of the day, with their place and estimate."""
    _require_counter_client(client)
    session, now = uow.session, uow.now()
    # Filed under the customer's pseudonym; the counter's own reference and the name sealed before
    # the counter is locked (keep the lock short).
    customer_id = pseudonym_of(uow.settings, request.customer_id)
    key = await key_for_sealing(uow, customer_id)
    reference = seal_field(key, customer_id, "reference", request.customer_id)
    name = None
    if request.customer_name is not None:
        name = seal_field(key, customer_id, "name", request.customer_name)
    found = await _counter(session, counter, for_update=True)
    day = domain.local_day(now, found.time_zone)
    seq = await repository.next_seq(session, found.name, day)
    entry = QueueEntry(
        id=new_id(),
        counter=found.name,
        day=day,
        seq=seq,
        number=domain.queue_number(found.prefix, seq),
        status=EntryStatus.WAITING.value,
        customer_id=customer_id,
        customer_reference=reference,
        customer_name=name,
        channel_client_id=client.id,
        joined_at=now,
    )
    repository.add(session, entry)
    await session.flush()
    return await state(session, entry, uow.settings, now)


async def queue(
    session: AsyncSession, *, counter: str, owner: uuid.UUID | None, settings: IntakeSettings, now: datetime
) -> QueueState:
    """The counter's live queue in order, each with its place, wait and estimate; with `owner`,
    only that client's numbers (each still with its place in the whole line)."""
    found = await _counter(session, counter)
    pace = await _pace(session, found.name, settings, now)
    entries = await repository.waiting(session, found.name)
    limit = _limit(settings)
    return QueueState(
        counter=found,
        at=now,
        pace=pace,
        entries=[
            _state(e, position=i, pace=pace, now=now, limit=limit)
            for i, e in enumerate(entries, start=1)
            if owner is None or e.channel_client_id == owner
        ],
    )


async def _customer(
    session: AsyncSession, entry: QueueEntry, settings: IntakeSettings
) -> tuple[str | None, str | None]:
    """The counter's own reference for the entry's customer and the name given with the number,
    opened (None: not given, or erased); an entry from before pseudonyms holds the reference."""
    key = (await keys_for_opening(session, [entry.customer_id], settings))[entry.customer_id]
    reference = (
        open_field(key, entry.customer_id, "reference", entry.customer_reference)
        if entry.customer_reference is not None
        else entry.customer_id
    )
    return reference, open_field(key, entry.customer_id, "name", entry.customer_name)


async def serve(
    uow: IntakeUnit, *, counter: str, entry_id: uuid.UUID, request: ServeRequest, client: ChannelClientView
) -> EntryState:
    """Turn a waiting number into a ticket on channel `counter`; the number leaves the queue.

    The ticket is written by `create_ticket`'s one autocommit statement together with an
    Idempotency-Key record keyed by the entry, so it is created once per entry even when this
    transaction fails after it and the serve is retried.
    """
    _require_counter_client(client)
    session, now = uow.session, uow.now()
    entry = await _entry(session, counter, entry_id, owner=client.id, for_update=True)
    try:
        status = domain.next_status(EntryStatus(entry.status), EntryAction.SERVE)
    except InvalidTransition as exc:
        if entry.ticket_id is not None:  # a retried serve learns which ticket the number became
            exc.details = {**exc.details, "ticket_id": str(entry.ticket_id), "ticket_number": entry.ticket_number}
        raise
    reference, given = await _customer(session, entry, uow.settings)
    if reference is None:
        raise Unprocessable(
            "the customer's personal data was erased since they took the number", code="customer_erased"
        )
    name = request.customer_name or given
    if not name:
        raise Unprocessable(
            "the customer's name is needed to open their ticket: send customer_name", code="customer_name_required"
        )
    report = TicketCreate(
        channel=Channel.COUNTER,
        customer=CustomerIn(id=reference, name=name, contact=request.contact),
        category=request.category,
        need=request.need,
        urgency=request.urgency,
        subject=request.subject,
        description=request.description,
    )
    key = str(entry.id)
    claim = Claim(SERVE_SCOPE, key, hashlib.sha256(key.encode()).hexdigest(), 201, now)
    try:
        view = await tickets.create_ticket(uow, report=report, client=client, claim=claim)
        ticket_id, ticket_number = view.ticket.id, view.ticket.number
    except KeyTaken:
        made = await tickets.made_under_key(session, scope=SERVE_SCOPE, key=key)
        if made is None:
            raise Conflict("this number is being served right now", code="entry_being_served") from None
        ticket_id, ticket_number = made
    entry.status = status.value
    entry.served_at = now
    entry.ticket_id, entry.ticket_number = ticket_id, ticket_number
    await session.flush()
    return _state(entry, position=None, pace=None, now=now, limit=_limit(uow.settings))


async def cancel(uow: IntakeUnit, *, counter: str, entry_id: uuid.UUID, client: ChannelClientView) -> EntryState:
    """Take a waiting number out of the queue (the customer left)."""
    _require_counter_client(client)
    session, now = uow.session, uow.now()
    entry = await _entry(session, counter, entry_id, owner=client.id, for_update=True)
    entry.status = domain.next_status(EntryStatus(entry.status), EntryAction.CANCEL).value
    entry.cancelled_at = now
    await session.flush()
    return _state(entry, position=None, pace=None, now=now, limit=_limit(uow.settings))
