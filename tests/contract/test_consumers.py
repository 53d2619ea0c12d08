"""Contract tier (STYLE rule 11): every producer's sample events, as they travel on the wire,
run through every consumer that registered a handler for them, on each service's real
database. A producer that changes a payload in a way some consumer cannot take fails here,
before it reaches a topic."""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.builders import T0, Story
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.tickets.schemas import TicketCreate
from ticketloop_routing.organisation.service import load_if_empty
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import make_engine, make_sessionmaker, make_statement_pool, transaction
from ticketloop_shared.events import Envelope, Topics, parse_event
from ticketloop_shared.ids import new_id
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.runtime import all_handlers
from ticketloop_shared.settings import PlatformSettings, ServiceSettings
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork, unit_of_work

SERVICES = ("intake", "routing", "sla", "feedback", "retrospective")
NewDatabase = Callable[[str], Awaitable[str]]


def _parts(service: str) -> tuple[Handlers[Any], Any, type[ServiceSettings]]:
    handlers = f"ticketloop_{service}.handlers"  # every service keeps its handler map at its root
    db = importlib.import_module(f"ticketloop_{service}.db")
    settings_cls = next(
        value
        for value in vars(importlib.import_module(f"ticketloop_{service}.settings")).values()
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings
    )
    return importlib.import_module(handlers).HANDLERS, db.messaging, settings_cls


def test_every_event_type_some_service_handles_is_produced_by_the_builders() -> None:
    produced = {type(e) for e in Story().every_event()}
    for service in SERVICES:
        handled = set(_parts(service)[0].classes())
        assert handled <= produced, f"{service} handles a type no producer sample covers: {handled - produced}"


@pytest.mark.parametrize("service", SERVICES)
async def test_every_sample_event_is_accepted_by_every_consumer(
    service: str, new_database: NewDatabase, platform: PlatformSettings
) -> None:
    handlers, messaging, settings_cls = _parts(service)
    settings = settings_cls(database_url=await new_database(service), platform=platform)
    engine = make_engine(settings.database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    outbox = Outbox(messaging.outbox, Topics(platform.topic_prefix))
    clock = FrozenClock(T0 + timedelta(hours=6))
    # intake's handlers number and seal the tickets they open through its autocommit pool.
    pool = await make_statement_pool(settings.database_url, size=1) if service == "intake" else None
    try:
        story = await _story_known_to(service, settings, sessions, outbox, clock)
        by_type = all_handlers(handlers, messaging)
        applied: set[str] = set()
        emitted: list[Envelope] = []
        for sample in story.every_event():
            handler = by_type.get(sample.type)
            if handler is None:
                continue
            wire = parse_event(json.loads(sample.to_json()))  # exactly what the consumer decodes
            async with unit_of_work(
                sessions, outbox=outbox, clock=clock, settings=settings, source=service, cause=wire, statements=pool
            ) as uow:
                await handler(uow, wire)
                emitted.extend(uow.events)
            applied.add(sample.type)
        assert applied == set(by_type), f"{service}: every registered handler ran"
        for event in emitted:  # and what a consumer emits in turn is itself a catalog event
            assert parse_event(json.loads(event.to_json())) == event
        async with engine.connect() as conn:
            written = await conn.scalar(select(func.count()).select_from(messaging.outbox))
        assert (written or 0) >= len(emitted)
    finally:
        if pool is not None:
            await pool.close()
        await engine.dispose()


async def _story_known_to(
    service: str, settings: ServiceSettings, sessions: Any, outbox: Outbox, clock: FrozenClock
) -> Story:
    """A ticket story; for a service that only reacts to tickets it owns, one it really has."""
    if service == "routing":
        assert isinstance(settings, RoutingSettings)
        async with transaction(sessions) as session:
            await load_if_empty(session, settings.organisation_file)
    if service != "intake":
        return Story(created_at=T0)
    assert isinstance(settings, IntakeSettings)
    report = TicketCreate.model_validate(
        {
            "channel": "web",
            "customer": {"id": "cust-contract", "name": "Contract Customer"},
            "category": "billing",
            "subject": "contract",
            "description": "a ticket intake really holds",
        }
    )
    channel = ChannelClientView(id=new_id(), name="contract", channels=frozenset({"web"}))
    async with transaction(sessions) as session:
        from ticketloop_intake.channels.models import ChannelClient

        session.add(ChannelClient(id=channel.id, name="contract", channels=["web"]))
    uow: UnitOfWork[IntakeSettings]
    pool = await make_statement_pool(settings.database_url, size=1)
    try:
        async with unit_of_work(
            sessions, outbox=outbox, clock=FrozenClock(T0), settings=settings, source="intake", statements=pool
        ) as uow:
            view = await tickets.create_ticket(uow, report=report, client=channel)
    finally:
        await pool.close()
    ticket = view.ticket
    return Story(created_at=T0, ticket_id=ticket.id, number=ticket.number, customer_id=ticket.customer_id)
