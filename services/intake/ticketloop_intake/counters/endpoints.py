"""HTTP: admins register counters; a counter client hands out queue numbers and serves them
as tickets; the counter and staff watch the live queue."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from ticketloop_intake.channels.deps import ChannelDep, ChannelOrStaff
from ticketloop_intake.counters import service
from ticketloop_intake.counters.domain import COUNTER_SLUG
from ticketloop_intake.counters.models import Counter
from ticketloop_intake.counters.schemas import (
    CounterCreate,
    CounterOut,
    QueueEntryOut,
    QueueOut,
    QueueTake,
    ServeRequest,
    TicketRefOut,
)
from ticketloop_intake.counters.service import EntryState
from ticketloop_intake.idempotency.service import fingerprint, run_once
from ticketloop_intake.unit import IntakeUnit, IntakeUowDep, SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff

CounterPath = Annotated[str, Path(min_length=1, max_length=64, pattern=COUNTER_SLUG, description="The counter's slug")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request with the same key to get the first response back, never a second effect.",
    ),
]

router = APIRouter(prefix="/v1/counters", tags=["counter queues"])

_COUNTER_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown counter (`counter_not_found`)"}}
_ENTRY_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {
        "description": "Unknown counter or queue entry (`counter_not_found`, `entry_not_found`); another channel "
        "client's number is unknown too"
    }
}
_IDEMPOTENCY_CONFLICT = "Idempotency-Key reused for another request or still in progress"


def render_counter(counter: Counter) -> CounterOut:
    """A counter as admins and staff see it."""
    return CounterOut(
        name=counter.name,
        prefix=counter.prefix,
        time_zone=counter.time_zone,
        created_at=counter.created_at,
        created_by=counter.created_by,
    )


def render(state: EntryState) -> QueueEntryOut:
    """A queue number as the counter and staff see it (no personal data but the customer id)."""
    entry = state.entry
    ticket = None
    if entry.ticket_id is not None and entry.ticket_number is not None:
        ticket = TicketRefOut(id=entry.ticket_id, number=entry.ticket_number)
    return QueueEntryOut(
        id=entry.id,
        counter=entry.counter,
        number=entry.number,
        status=entry.status,
        customer_id=entry.customer_id,
        joined_at=entry.joined_at,
        position=state.position,
        waited_seconds=state.waited.total_seconds(),
        estimated_wait_seconds=state.estimate.total_seconds() if state.estimate is not None else None,
        wait_exceeded=state.wait_exceeded,
        wait_exceeded_at=entry.wait_exceeded_at,
        served_at=entry.served_at,
        cancelled_at=entry.cancelled_at,
        ticket=ticket,
    )


async def _once(
    uow: IntakeUnit,
    request: Request,
    *,
    counter: str,
    client_id: uuid.UUID,
    key: str | None,
    body: QueueTake | ServeRequest,
    status_code: int,
    action: Callable[[], Awaitable[EntryState]],
) -> Response:
    async def act() -> tuple[uuid.UUID, QueueEntryOut]:
        done = await action()
        return done.entry.id, render(done)

    async def current(entry_id: uuid.UUID) -> QueueEntryOut:
        found = await service.read_entry(
            uow.session, counter=counter, entry_id=entry_id, owner=client_id, settings=uow.settings, now=uow.now()
        )
        return render(found)

    return await run_once(
        uow.session,
        scope=f"channel:{client_id}:counters",
        key=key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=status_code,
        action=act,
        render=current,
        now=uow.now(),
        ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
    )


@router.post(
    "",
    status_code=201,
    response_model=CounterOut,
    responses={409: {"description": "A counter with this name exists (`counter_exists`)"}},
)
async def register_counter(body: CounterCreate, uow: IntakeUowDep, admin: CurrentAdmin) -> CounterOut:
    """Register a store or branch counter (audited)."""
    return render_counter(await service.register(uow.session, new=body, by=admin, now=uow.now()))


@router.get("", response_model=list[CounterOut])
async def list_counters(session: SessionDep, _: CurrentStaff) -> list[CounterOut]:
    """Every registered counter."""
    return [render_counter(c) for c in await service.all_counters(session)]


@router.post(
    "/{counter}/queue",
    status_code=201,
    response_model=QueueEntryOut,
    responses={**_COUNTER_NOT_FOUND, 409: {"description": _IDEMPOTENCY_CONFLICT}},
)
async def take_number(
    counter: CounterPath,
    body: QueueTake,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A counter gives a customer the next number of the day, with their place in the queue
    and the estimated wait."""
    return await _once(
        uow,
        request,
        counter=counter,
        client_id=client.id,
        key=idempotency_key,
        body=body,
        status_code=201,
        action=lambda: service.take(uow, counter=counter, request=body, client=client),
    )


@router.get("/{counter}/queue", response_model=QueueOut, responses=_COUNTER_NOT_FOUND)
async def show_queue(
    counter: CounterPath, session: SessionDep, settings: SettingsDep, runtime: RuntimeDep, caller: ChannelOrStaff
) -> QueueOut:
    """The live queue, first come first: each number's place, wait so far and estimated wait. A
    channel client sees only its own numbers (with their places in the whole line); staff all."""
    state = await service.queue(
        session, counter=counter, owner=service.owner_of(caller), settings=settings, now=runtime.clock.now()
    )
    return QueueOut(
        counter=state.counter.name,
        at=state.at,
        waiting=len(state.entries),
        seconds_per_position=state.pace.per_position.total_seconds(),
        estimate_basis="recent_serves" if state.pace.from_history else "default",
        entries=[render(e) for e in state.entries],
    )


@router.get("/{counter}/queue/{entry_id}", response_model=QueueEntryOut, responses=_ENTRY_NOT_FOUND)
async def show_entry(
    counter: CounterPath,
    entry_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    caller: ChannelOrStaff,
) -> QueueEntryOut:
    """One number as it stands: its place and estimate while waiting, its ticket once served. A
    channel client reads only its own numbers (another's is 404)."""
    return render(
        await service.read_entry(
            session,
            counter=counter,
            entry_id=entry_id,
            owner=service.owner_of(caller),
            settings=settings,
            now=runtime.clock.now(),
        )
    )


@router.post(
    "/{counter}/queue/{entry_id}/serve",
    status_code=201,
    response_model=QueueEntryOut,
    responses={
        **_ENTRY_NOT_FOUND,
        409: {
            "description": "The number is not waiting (`entry_served`, `entry_cancelled`; `details.status`, and "
            "the ticket of a served one), or " + _IDEMPOTENCY_CONFLICT
        },
        422: {"description": "Validation error, or `customer_name_required` (no name given with the number or here)"},
    },
)
async def serve_number(
    counter: CounterPath,
    entry_id: uuid.UUID,
    body: ServeRequest,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The counter serves a number: the customer's problem becomes a ticket on channel
    `counter` and the number leaves the queue; the response names the ticket."""
    return await _once(
        uow,
        request,
        counter=counter,
        client_id=client.id,
        key=idempotency_key,
        body=body,
        status_code=201,
        action=lambda: service.serve(uow, counter=counter, entry_id=entry_id, request=body, client=client),
    )


@router.post(
    "/{counter}/queue/{entry_id}/cancel",
    response_model=QueueEntryOut,
    responses={
        **_ENTRY_NOT_FOUND,
        409: {"description": "The number is not waiting (`entry_served`, `entry_cancelled`; `details.status`)"},
    },
)
async def cancel_number(
    counter: CounterPath, entry_id: uuid.UUID, uow: IntakeUowDep, client: ChannelDep
) -> QueueEntryOut:
    """The customer left: the number leaves the queue."""
    return render(await service.cancel(uow, counter=counter, entry_id=entry_id, client=client))
