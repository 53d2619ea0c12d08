"""The gateway process: its SMTP server(s) and webhook receiver on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ticketloop_emailgw import outbound
from ticketloop_emailgw.inbound import InboundHandler, start_smtp
from ticketloop_emailgw.intake import IntakeClient
from ticketloop_emailgw.relay import FolderRelay
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.subscription import ensure_subscription
from ticketloop_emailgw.webhooks import Receiver, webhooks_router

log = logging.getLogger("ticketloop_emailgw")


def create_app(settings: EmailGatewaySettings | None = None) -> FastAPI:
    """The gateway; its lifespan opens the SMTP server (and the development relay) and closes them."""
    settings = settings or EmailGatewaySettings()

    async def send(message: EmailMessage) -> None:
        await outbound.send(message, settings)

    receiver = Receiver(settings, send)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        intake = IntakeClient(settings)
        servers: list[asyncio.Server] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            if settings.dev_relay_dir is not None:
                relay = FolderRelay(settings.dev_relay_dir)
                servers.append(
                    await start_smtp(
                        relay, settings.relay_host, settings.relay_port, data_size_limit=4 * settings.max_message_bytes
                    )
                )
                log.info(
                    "development relay on %s:%s writes mail to %s",
                    settings.relay_host,
                    settings.relay_port,
                    settings.dev_relay_dir,
                )
            handler = InboundHandler(intake=intake, settings=settings)
            servers.append(
                await start_smtp(
                    handler, settings.smtp_host, settings.smtp_port, data_size_limit=settings.max_message_bytes
                )
            )
            log.info("taking mail on %s:%s", settings.smtp_host, settings.smtp_port)
            if settings.subscribe_on_start and receiver.key is None:
                tasks.append(asyncio.create_task(_subscribe(intake, settings, receiver)))
            app.state.ready = True
            yield
        finally:
            app.state.ready = False
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()
            await intake.aclose()

    app = FastAPI(title="ticketloop email gateway", lifespan=lifespan)
    app.state.ready = False
    app.state.receiver = receiver
    app.include_router(webhooks_router(lambda: receiver))

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        """The SMTP server listens."""
        if app.state.ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting"}, status_code=503)

    return app


async def _subscribe(intake: IntakeClient, settings: EmailGatewaySettings, receiver: Receiver) -> None:
    """Retry until intake answers (it may start after the gateway), then take the secret."""
    for attempt in range(30):
        key = await ensure_subscription(intake, settings, settings.webhook_secret_file)
        if key is not None:
            receiver.key = key
            return
        await asyncio.sleep(min(2.0 * (attempt + 1), 10.0))
