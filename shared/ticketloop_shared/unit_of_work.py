"""One unit of work for every write: what an HTTP request and a consumer batch both hand to
service code.

Service code gets the session, the clock, the service's settings and `emit(data)`; it flushes,
never commits, and never builds an envelope. `emit` stamps source, time, subject, correlation
and causation from the cause (the event being handled, or none for a request or a sweep), and
the events are written to the outbox in one statement just before the transaction commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketloop_shared import tracing
from ticketloop_shared.clock import Clock
from ticketloop_shared.events.catalog import Payload, event_class_for
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.settings import ServiceSettings
from ticketloop_shared.state import ProcessState

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
E = TypeVar("E", bound=Envelope)


def build_event(
    data: Payload,
    *,
    source: str,
    time: datetime,
    subject: str | uuid.UUID | None = None,
    cause: Envelope | None = None,
    correlation_id: uuid.UUID | None = None,
    traceparent: str | None = None,
) -> Envelope:
    """The envelope around `data`, stamped by the one rule every producer follows.

    The subject defaults to the payload's `ticket_id`. Without a cause, the correlation id is
    the subject (one id traces a ticket through all five services); with one, it is the
    cause's correlation and the cause is the causation. The trace context is `traceparent`
    (the span that emits it), else the cause's.
    """
    if subject is None:
        ticket_id = getattr(data, "ticket_id", None)
        if ticket_id is None:
            raise ValueError(f"{type(data).__name__} has no ticket_id: pass subject=")
        subject = ticket_id
    if correlation_id is None:
        if cause is not None:
            correlation_id = cause.correlation_id or cause.id
        elif isinstance(subject, uuid.UUID):
            correlation_id = subject
    make: Callable[..., Envelope] = event_class_for(data)
    return make(
        source=source,
        subject=str(subject),
        time=time,
        correlation_id=correlation_id,
        causation_id=cause.id if cause is not None else None,
        traceparent=traceparent or (cause.traceparent if cause is not None else None),
        data=data,
    )


@dataclass
class UnitOfWork(Generic[S]):
    """The session, clock, settings and event sink of one transaction.

    `statements` is the service's autocommit pool, for a unit whose whole write is one
    statement (state and outbox rows together, see `claim_outbox_rows`): it then costs one
    round trip instead of BEGIN, statement and COMMIT. Such a unit leaves `session` unused (a
    session that never ran a statement opens no transaction).
    """

    session: AsyncSession
    clock: Clock
    settings: S
    source: str
    outbox: Outbox
    cause: Envelope | None = None
    statements: asyncpg.Pool | None = None
    # The runtime's per-process state (caches), see `ticketloop_shared.state`.
    state: ProcessState = field(default_factory=ProcessState)
    events: list[Envelope] = field(default_factory=list)
    written: int = 0
    # What handlers of one transaction (a consumer's poll batch runs several) gather for a
    # `before_commit` hook, by a key of their choosing.
    deferred: dict[str, Any] = field(default_factory=dict)
    # The traceparent of the consumer span handling each cause, by event id (filled only when
    # tracing is on): what an event caused by it carries, so the trace continues through here.
    trace_parents: dict[uuid.UUID, str] = field(default_factory=dict)
    # The same by subject, for what a batch handler emits without naming its cause: it
    # continues the trace of the event about the same ticket.
    subject_traces: dict[str, str] = field(default_factory=dict)
    _hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _after: list[Callable[[], None]] = field(default_factory=list)
    # The service's observer of what is about to be written to the outbox: it runs in the same
    # transaction (or savepoint) as the events, so what it writes commits or rolls back with them
    # (intake writes the webhook deliveries the events call for).
    observe: Observer | None = None

    def now(self) -> datetime:
        """The current time from the injected clock."""
        return self.clock.now()

    def before_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once, at the end of the transaction, before its events are written: a
        handler publishes once what several runs of a batch changed (sla: a ticket's clocks)."""
        self._hooks.append(hook)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction committed (not if it rolled back): wake a worker
        in this process for the rows it can now see."""
        if callback not in self._after:
            self._after.append(callback)

    async def run_hooks(self) -> None:
        """Run the `before_commit` hooks in the order they were added."""
        while self._hooks:
            await self._hooks.pop(0)()

    def emit(
        self,
        data: Payload,
        *,
        subject: str | uuid.UUID | None = None,
        time: datetime | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Stage the event carrying `data` (stamped by `build_event`); it is written to the
        outbox with this transaction.

        Its trace context: the consumer span of its cause, else the cause's own; with no cause,
        the span running now (an HTTP request's), else the consumer span of an event about the
        same subject, else a trace of its own (see `tracing`).
        """
        cause = self.cause
        traceparent = None
        if cause is not None:
            traceparent = self.trace_parents.get(cause.id) if self.trace_parents else None
        elif tracing.active():
            traceparent = tracing.current_traceparent()
        event = build_event(
            data,
            source=self.source,
            time=time or self.now(),
            subject=subject,
            cause=cause,
            correlation_id=correlation_id,
            traceparent=traceparent,
        )
        if event.traceparent is None and tracing.active():
            traceparent = self.subject_traces.get(event.subject) or tracing.emission_traceparent(self.source, event)
            event = event.model_copy(update={"traceparent": traceparent})
        self.events.append(event)
        return event

    async def flush_events(self) -> None:
        """Write the staged events to the outbox now, inside the current savepoint (a sweep that
        isolates each item needs an item's events to fail or succeed with it). The service's
        observer sees them first, in the same transaction."""
        if self.events and self.observe is not None:
            await self.observe(self, list(self.events))
        await self.outbox.write(self.session, self.events)
        self.written += len(self.events)
        self.events.clear()

    def claim_outbox_rows(self) -> list[dict[str, object]]:
        """Hand the staged events' outbox rows to a statement that writes them itself, so a hot
        path writes its state and its events in one round trip; they count as written (the
        relay is woken after the unit ends)."""
        rows = self.outbox.rows(self.events)
        self.written += len(rows)
        self.events.clear()
        return rows

    @asynccontextmanager
    async def isolated(self, what: str, **ids: object) -> AsyncIterator[Isolation]:
        """One item of a batch in a savepoint of its own: on success its changes and events are
        written inside the savepoint; on error the savepoint is rolled back, the events the item
        emitted are dropped, the failure is logged with the item's `ids`, and the batch goes on
        (the error is not raised; `failed` says it happened, for a caller that pushes the item
        back). Read what the log or the caller needs from an ORM row before the block: a rolled
        back row's attributes are expired."""
        item = Isolation()
        marker = len(self.events)
        try:
            async with self.session.begin_nested():
                yield item
                await self.session.flush()
                await self.flush_events()
        except Exception:
            del self.events[marker:]
            item.failed = True
            log.exception(f"{what} failed; skipped", extra={k: str(v) for k, v in ids.items()})

    @contextmanager
    def caused_by(self, event: Envelope | None) -> Iterator[None]:
        """Events emitted inside the block are caused by `event`."""
        previous, self.cause = self.cause, event
        try:
            yield
        finally:
            self.cause = previous


Observer = Callable[[UnitOfWork[Any], Sequence[Envelope]], Awaitable[None]]


@dataclass
class Isolation:
    """What became of one item run by `UnitOfWork.isolated`."""

    failed: bool = False


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession],
    *,
    outbox: Outbox,
    clock: Clock,
    settings: S,
    source: str,
    cause: Envelope | None = None,
    on_commit: Callable[[], None] | None = None,
    statements: asyncpg.Pool | None = None,
    state: ProcessState | None = None,
    observe: Observer | None = None,
) -> AsyncIterator[UnitOfWork[S]]:
    """One transaction: the staged events go to the outbox, then commit; any error rolls back."""
    async with sessions() as session:
        async with session.begin():
            uow = UnitOfWork(
                session=session,
                clock=clock,
                settings=settings,
                source=source,
                outbox=outbox,
                cause=cause,
                statements=statements,
                state=state if state is not None else ProcessState(),
                observe=observe,
            )
            yield uow
            await uow.run_hooks()
            wrote = uow.written + len(uow.events)
            await uow.flush_events()
        if wrote and on_commit is not None:
            on_commit()
        for callback in uow._after:
            callback()


Handler = Callable[[UnitOfWork[Any], Any], Awaitable[None]]


@dataclass(frozen=True)
class BatchHandler:
    """A handler that takes a run of consecutive events of one type in one call, so it can
    apply them in one statement: a consumer that shares its event loop with busy HTTP then
    pays a few round trips per poll batch, not one per event. Called with one event, it
    handles that one (the consumer's one-by-one fallback, the contract tier)."""

    run: Callable[[UnitOfWork[Any], Sequence[Any]], Awaitable[None]]

    async def __call__(self, uow: UnitOfWork[Any], event: Any) -> None:
        with uow.caused_by(event):
            await self.run(uow, [event])


class Handlers(Generic[S]):
    """A service's one map from event class to handler, registered once at import time.

    HANDLERS = Handlers[IntakeSettings]()

    @HANDLERS.on(TicketAssigned)
    async def on_ticket_assigned(uow: UnitOfWork[IntakeSettings], event: TicketAssigned) -> None: ...
    """

    def __init__(self) -> None:
        self._by_class: dict[type[Envelope], Handler] = {}

    def on(
        self, event_class: type[E]
    ) -> Callable[[Callable[[UnitOfWork[S], E], Awaitable[None]]], Callable[[UnitOfWork[S], E], Awaitable[None]]]:
        """Register the decorated function as the handler of `event_class`."""

        def register(
            handler: Callable[[UnitOfWork[S], E], Awaitable[None]],
        ) -> Callable[[UnitOfWork[S], E], Awaitable[None]]:
            self._add(event_class, cast(Handler, handler))
            return handler

        return register

    def on_batch(
        self, event_class: type[E], *more: type[Envelope]
    ) -> Callable[
        [Callable[[UnitOfWork[S], Sequence[E]], Awaitable[None]]],
        Callable[[UnitOfWork[S], Sequence[E]], Awaitable[None]],
    ]:
        """Register the decorated function as the handler of runs of `event_class` events
        (it sets each event as the cause of what it emits, with `uow.caused_by`). With `more`
        classes, consecutive events of any of them make one run, in their partition order."""

        def register(
            handler: Callable[[UnitOfWork[S], Sequence[E]], Awaitable[None]],
        ) -> Callable[[UnitOfWork[S], Sequence[E]], Awaitable[None]]:
            batch = BatchHandler(cast(Any, handler))
            for cls in (cast(type[Envelope], event_class), *more):
                self._add(cls, batch)
            return handler

        return register

    def _add(self, event_class: type[Envelope], handler: Handler) -> None:
        if event_class in self._by_class:
            raise ValueError(f"{event_class.__name__} already has a handler")
        self._by_class[event_class] = handler

    def by_type(self) -> Mapping[str, Handler]:
        """The handlers keyed by the versioned type name found on the wire."""
        return {cls.model_fields["type"].default: handler for cls, handler in self._by_class.items()}

    def classes(self) -> list[type[Envelope]]:
        """The event classes handled."""
        return list(self._by_class)

    def __len__(self) -> int:
        return len(self._by_class)
