"""intake's application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ticketloop_intake.attachments.models import Attachment  # noqa: F401  (registers the table)
from ticketloop_intake.channels import scheduled as channel_jobs
from ticketloop_intake.channels import service as channel_service
from ticketloop_intake.channels.endpoints import router as channel_client_router
from ticketloop_intake.channels.models import ChannelClient  # noqa: F401  (registers the table)
from ticketloop_intake.counters import scheduled as counter_jobs
from ticketloop_intake.counters.endpoints import router as counter_router
from ticketloop_intake.counters.models import QueueEntry  # noqa: F401  (registers the tables)
from ticketloop_intake.customers import scheduled as customer_jobs
from ticketloop_intake.customers.models import CustomerKey  # noqa: F401  (registers the tables)
from ticketloop_intake.db import audit, messaging
from ticketloop_intake.deadlines.models import SlaPolicyCopy  # noqa: F401  (registers the tables)
from ticketloop_intake.handlers import HANDLERS
from ticketloop_intake.idempotency import scheduled as idempotency_jobs
from ticketloop_intake.idempotency.models import IdempotencyRecord  # noqa: F401  (registers the table)
from ticketloop_intake.knowledge import scheduled as knowledge_jobs
from ticketloop_intake.knowledge.endpoints import router as knowledge_router
from ticketloop_intake.knowledge.models import Article  # noqa: F401  (registers the table)
from ticketloop_intake.orders.endpoints import router as order_router
from ticketloop_intake.orders.models import Order  # noqa: F401  (registers the table)
from ticketloop_intake.reply_templates.endpoints import router as reply_template_router
from ticketloop_intake.reply_templates.models import ReplyTemplate  # noqa: F401  (registers the table)
from ticketloop_intake.retention import scheduled as retention_jobs
from ticketloop_intake.retention.service import CLASSES as RETENTION
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import scheduled as ticket_jobs
from ticketloop_intake.tickets.attachment_endpoints import router as attachment_router
from ticketloop_intake.tickets.channel_endpoints import router as read_back_router
from ticketloop_intake.tickets.endpoints import router as ticket_router
from ticketloop_intake.tickets.link_endpoints import router as customer_link_router
from ticketloop_intake.tickets.models import Ticket  # noqa: F401  (registers the tables)
from ticketloop_intake.tickets.personal_data_endpoints import router as customer_router
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_intake.webhooks import fanout as webhooks
from ticketloop_intake.webhooks import handlers as webhook_handlers
from ticketloop_intake.webhooks import scheduled as webhook_jobs
from ticketloop_intake.webhooks.endpoints import admin_router as webhook_admin_router
from ticketloop_intake.webhooks.endpoints import channel_router as webhook_channel_router
from ticketloop_intake.webhooks.models import WebhookEndpoint  # noqa: F401  (registers the tables)
from ticketloop_shared.api import create_service_app
from ticketloop_shared.audit import audit_router
from ticketloop_shared.clock import Clock
from ticketloop_shared.db import transaction
from ticketloop_shared.retention import retention_router
from ticketloop_shared.runtime import ServiceSpec
from ticketloop_shared.scheduler import Scheduler

MIGRATIONS = Path(__file__).parent / "migrations"
# The routes whose bodies may carry files: a customer's message and a reply.
ATTACHMENT_ROUTES = r"/v1/tickets/[^/]+/(messages|replies)"


async def seed_channel(runtime: IntakeRuntime) -> None:
    """In development, the channel client whose key the settings name exists from the start."""
    key = runtime.settings.dev_channel_key
    if key is not None:
        async with transaction(runtime.sessions) as session:
            await channel_service.seed_development_client(session, key.get_secret_value(), now=runtime.clock.now())


def create_app(settings: IntakeSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build intake; nothing connects until the app starts."""
    settings = settings or IntakeSettings()
    spec = ServiceSpec(
        name="intake",
        settings=settings,
        messaging=messaging,
        migrations=MIGRATIONS,
        handlers=HANDLERS,
        on_start=seed_channel,
        scheduler=Scheduler.of(
            channel_jobs.SCHEDULE,
            idempotency_jobs.SCHEDULE,
            customer_jobs.SCHEDULE,
            ticket_jobs.SCHEDULE,
            knowledge_jobs.SCHEDULE,
            counter_jobs.SCHEDULE,
            webhook_jobs.SCHEDULE,
            retention_jobs.SCHEDULE,
        ),
        # Webhooks: a channel's deliveries are written with the events that call for them; admin
        # subscriptions are fed by a consumer of every topic, in a group of its own.
        observe=webhooks.on_events,
        side_consumers={webhook_handlers.CONSUMER_NAME: webhook_handlers.admin_consumer},
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
            retention_router("intake", RETENTION),
            # Knowledge base and counter queues.
            knowledge_router,
            counter_router,
            # Webhook subscriptions: channels' own, and administrators' (downstream systems).
            webhook_channel_router,
            webhook_admin_router,
            # Canned replies and attached files.
            reply_template_router,
            attachment_router,
            # Orders a commerce system reports (spend, anticipation, the order-status answer).
            order_router,
        ],
        clock=clock,
        body_limits={ATTACHMENT_ROUTES: settings.attachment_body_bytes},
    )
