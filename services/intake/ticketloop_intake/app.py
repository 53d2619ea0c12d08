"""intake's application factory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from ticketloop_intake.channels import service as channel_service
from ticketloop_intake.channels.endpoints import router as channel_client_router
from ticketloop_intake.channels.models import ChannelClient  # noqa: F401  (registers the table)
from ticketloop_intake.counters.endpoints import router as counter_router
from ticketloop_intake.counters.models import QueueEntry  # noqa: F401  (registers the tables)
from ticketloop_intake.counters.scheduled import sweep_wait_exceeded
from ticketloop_intake.customers.models import CustomerKey  # noqa: F401  (registers the tables)
from ticketloop_intake.customers.service import KEYS
from ticketloop_intake.db import audit, messaging
from ticketloop_intake.handlers import HANDLERS
from ticketloop_intake.idempotency.models import IdempotencyRecord  # noqa: F401  (registers the table)
from ticketloop_intake.idempotency.service import purge_expired
from ticketloop_intake.knowledge.endpoints import router as knowledge_router
from ticketloop_intake.knowledge.models import Article  # noqa: F401  (registers the table)
from ticketloop_intake.knowledge.scheduled import refresh_suggestion_guard
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import scheduled
from ticketloop_intake.tickets.channel_endpoints import router as read_back_router
from ticketloop_intake.tickets.endpoints import router as ticket_router
from ticketloop_intake.tickets.link_endpoints import router as customer_link_router
from ticketloop_intake.tickets.models import Ticket  # noqa: F401  (registers the tables)
from ticketloop_intake.tickets.personal_data_endpoints import router as customer_router
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.db import transaction
from ticketloop_shared.runtime import Runtime, ServiceSpec
from ticketloop_shared.scheduler import Scheduler

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build intake; nothing connects until the app starts."""
    settings = settings or IntakeSettings()

    async def on_start(runtime: Runtime[IntakeSettings]) -> None:
        if settings.dev_channel_key is not None:
            async with transaction(runtime.sessions) as session:
                await channel_service.seed_development_client(session, settings.dev_channel_key.get_secret_value())

    async def forget_old_keys(runtime: Runtime[IntakeSettings]) -> int:
        """Idempotency keys are kept for a setting's hours, then forgotten."""
        async with transaction(runtime.sessions) as session:
            return await purge_expired(
                session, now=runtime.clock.now(), ttl=timedelta(hours=settings.idempotency_ttl_hours)
            )

    async def close_unconfirmed(runtime: Runtime[IntakeSettings]) -> int:
        """Resolved tickets nobody confirmed in time close by themselves."""
        async with runtime.unit_of_work() as uow:
            return await scheduled.close_unconfirmed(uow)

    async def drop_erased_keys(runtime: Runtime[IntakeSettings]) -> int:
        """Erasures made by any intake process reach this one's key cache."""
        return await KEYS.drop_erased(runtime.engine, runtime.clock.now())

    async def refresh_knowledge_guard(runtime: Runtime[IntakeSettings]) -> bool:
        """Whether any article is active, re-checked so the ticket path never asks."""
        return await refresh_suggestion_guard(runtime, settings)

    jobs = Scheduler[IntakeSettings]()
    jobs.every(name="forget-idempotency-keys", seconds=600)(forget_old_keys)
    jobs.every(name="drop-erased-keys", seconds=1)(drop_erased_keys)
    jobs.every(name="auto-close", seconds=settings.auto_close_interval_seconds)(close_unconfirmed)
    # Knowledge base and counter queues.
    jobs.every(name="knowledge-guard", seconds=settings.knowledge_guard_seconds)(refresh_knowledge_guard)
    jobs.every(name="counter-wait-exceeded", seconds=settings.counter_sweep_seconds)(sweep_wait_exceeded)
    spec = ServiceSpec(
        name="intake",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        on_start=on_start,
        scheduler=jobs,
    )
    return create_service_app(
        spec,
        title="ticketloop intake",
        description="Channels report customer problems here, add the customer's messages and read them back; "
        "staff work each ticket through its lifecycle; customers confirm or reopen with a no-login link. "
        "Customers' personal data is sealed with a key per customer and erased by destroying it.",
        routers=[
            ticket_router,
            channel_client_router,
            read_back_router,
            customer_link_router,
            customer_router,
            audit_router(audit),
            # Knowledge base and counter queues.
            knowledge_router,
            counter_router,
        ],
        clock=clock,
    )
