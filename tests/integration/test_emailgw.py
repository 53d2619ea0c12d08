"""The email gateway end to end against the real intake: mail in over SMTP becomes tickets and
customer messages; signed webhooks become mail at a local relay (aiosmtpd, started here)."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from tests.support import RunningService, admin_headers, serve
from ticketloop_emailgw.app import create_app as create_gateway
from ticketloop_emailgw.inbound import InboundHandler, start_smtp
from ticketloop_emailgw.intake import IntakeClient
from ticketloop_emailgw.relay import FolderRelay
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.threads import ticket_in_references
from ticketloop_embedded.ports import free_port
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.settings import PlatformSettings

SECRET = "whsec_" + base64.b64encode(b"integration-webhook-secret-0001").decode()
DOMAIN = "mail.ticketloop.test"


@dataclass
class Gateway:
    """The gateway, its SMTP port, the relay's folder, and the intake it talks to."""

    http: RunningService
    settings: EmailGatewaySettings
    relay_dir: Path
    intake: RunningService

    async def mail(self, message: EmailMessage) -> tuple[int, str]:
        """Send a mail to the gateway as a customer's server would; its SMTP answer to DATA."""
        try:
            errors, answer = await aiosmtplib.send(
                message,
                sender="bounces@example.com",
                recipients=["support@ticketloop.test"],
                hostname="127.0.0.1",
                port=self.settings.smtp_port,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        return 250, answer

    def relayed(self) -> list[EmailMessage]:
        """The mails the relay wrote, oldest first."""
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.relay_dir.glob("*.eml"))
        ]


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_intake(settings)) as running:
        yield running


@pytest.fixture
async def gateway(intake: RunningService, tmp_path: Path) -> AsyncIterator[Gateway]:
    relay_dir = tmp_path / "relay"
    relay = await start_smtp(FolderRelay(relay_dir), "127.0.0.1", free_port(), data_size_limit=10_000_000)
    relay_port = relay.sockets[0].getsockname()[1]
    settings = EmailGatewaySettings(
        intake_url=intake.url,
        smtp_port=free_port(),
        relay_port=relay_port,
        webhook_secret=SecretStr(SECRET),
        thread_secret=SecretStr("integration-thread-secret-0123456789"),
        mail_domain=DOMAIN,
        max_message_bytes=64 * 1024,
        relay_timeout_seconds=3,
    )
    try:
        async with serve(create_gateway(settings)) as http:
            yield Gateway(http=http, settings=settings, relay_dir=relay_dir, intake=intake)
    finally:
        relay.close()
        await relay.wait_closed()


def create_mail(
    subject: str = "Charged twice", body: str = "My card was charged twice.", **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Jane Doe <jane@example.com>")
    message["To"] = "support@ticketloop.test"
    message["Subject"] = subject
    message["Message-ID"] = headers.pop("Message_ID", f"<{uuid.uuid4().hex}@example.com>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def channel_tickets(intake: RunningService) -> list[dict[str, Any]]:
    r = await intake.client.get("/v1/tickets", params={"channel": "email", "limit": 200}, headers=admin_headers())
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def ticket(intake: RunningService, ticket_id: str) -> dict[str, Any]:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def create_delivery(ticket_id: str, number: str, kind: str = "ticket.replied", **data: Any) -> dict[str, Any]:
    """A channel delivery as the plan's contract has intake send it."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "ticket_id": ticket_id,
            "number": number,
            "customer_id": "email-x",
            "channel": "email",
            "contact": "jane@example.com",
            "message": {"text": "We refunded the second charge.", "attachments": []},
            **data,
        },
    }


async def post_delivery(gateway: Gateway, delivery: dict[str, Any], *, secret: str = SECRET) -> tuple[int, Any]:
    body = json.dumps(delivery)
    headers = {
        "webhook-id": delivery["id"],
        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery["id"], datetime.now(UTC), body),
        "content-type": "application/json",
    }
    r = await gateway.http.client.post("/webhooks", content=body, headers=headers)
    return r.status_code, r.json()


async def test_a_new_mail_becomes_a_ticket_with_its_subject_and_hints(gateway: Gateway) -> None:
    code, answer = await gateway.mail(create_mail("[urgent] [billing] Charged twice"))
    assert code == 250 and "new ticket T" in answer
    [found] = await channel_tickets(gateway.intake)
    assert (found["subject"], found["category"], found["urgency"]) == ("Charged twice", "billing", "urgent")
    full = await ticket(gateway.intake, found["id"])
    assert full["description"] == "My card was charged twice."
    assert full["customer"]["contact_masked"] == "j***@example.com"
    assert full["customer"]["name"] == "Jane Doe"


async def test_the_same_message_id_twice_makes_one_ticket(gateway: Gateway) -> None:
    mail = create_mail(Message_ID="<retry-1@example.com>")
    first = await gateway.mail(mail)
    again = await gateway.mail(mail)
    assert first[0] == again[0] == 250
    assert len(await channel_tickets(gateway.intake)) == 1


async def test_a_reply_to_the_gateways_mail_is_a_message_on_that_ticket(gateway: Gateway) -> None:
    await gateway.mail(create_mail())
    [found] = await channel_tickets(gateway.intake)
    status, _ = await post_delivery(gateway, create_delivery(found["id"], found["number"]))
    assert status == 200
    [sent] = gateway.relayed()
    reply = create_mail(
        f"Re: {sent['Subject']}",
        "Thanks, it arrived.\n\nOn Mon, support wrote:\n> We refunded the second charge.",
        In_Reply_To=sent["Message-ID"],
        References=f"{sent['References']} {sent['Message-ID']}",
    )
    code, answer = await gateway.mail(reply)
    assert code == 250 and f"message on ticket {found['number']}" in answer
    assert len(await channel_tickets(gateway.intake)) == 1
    timeline = (await ticket(gateway.intake, found["id"]))["timeline"]
    assert [e["body"] for e in timeline if e["kind"] == "message"] == ["Thanks, it arrived."]


async def test_the_ticket_number_in_the_subject_threads_only_the_customers_own_mail(gateway: Gateway) -> None:
    await gateway.mail(create_mail())
    [found] = await channel_tickets(gateway.intake)
    code, answer = await gateway.mail(create_mail(f"Re: [{found['number']}] Charged twice", "One more thing."))
    assert code == 250 and "message on ticket" in answer
    stranger = create_mail(f"[{found['number']}] Charged twice", "Not mine.", From="mallory@example.org")
    code, answer = await gateway.mail(stranger)
    assert code == 250 and "new ticket" in answer
    assert len(await channel_tickets(gateway.intake)) == 2


async def test_malformed_and_oversized_mail_is_refused_and_the_gateway_goes_on(gateway: Gateway) -> None:
    no_sender = create_mail()
    del no_sender["From"]
    no_sender["From"] = "not an address"
    no_sender["Return-Path"] = "<>"
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(
            no_sender,
            sender="",
            recipients=["support@ticketloop.test"],
            hostname="127.0.0.1",
            port=gateway.settings.smtp_port,
        )
    assert refused.value.code == 550
    code, _ = await gateway.mail(create_mail(body="x" * 100_000))
    assert code == 552
    assert (await gateway.mail(create_mail()))[0] == 250


async def test_intake_unavailable_answers_451(gateway: Gateway) -> None:
    handler_settings = gateway.settings.model_copy(update={"intake_url": f"http://127.0.0.1:{free_port()}"})
    intake = IntakeClient(handler_settings)
    server = await start_smtp(
        InboundHandler(intake=intake, settings=handler_settings), "127.0.0.1", free_port(), data_size_limit=65536
    )
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await aiosmtplib.send(create_mail(), hostname="127.0.0.1", port=port)
        assert refused.value.code == 451
    finally:
        server.close()
        await server.wait_closed()
        await intake.aclose()


async def test_a_signed_webhook_becomes_a_mail_in_the_thread(gateway: Gateway) -> None:
    await gateway.mail(create_mail())
    [found] = await channel_tickets(gateway.intake)
    delivery = create_delivery(found["id"], found["number"])
    status, answer = await post_delivery(gateway, delivery)
    assert (status, answer["status"]) == (200, "sent")
    # The same delivery again (intake's at-least-once): no second mail.
    assert (await post_delivery(gateway, delivery))[1]["status"] == "duplicate"
    [sent] = gateway.relayed()
    assert sent["To"] == "jane@example.com"
    assert sent["Subject"] == f"[{found['number']}] A reply to your request"
    key, domain = gateway.settings.thread_key, DOMAIN
    assert ticket_in_references([sent["Message-ID"]], key=key, domain=domain) == uuid.UUID(found["id"])
    assert ticket_in_references([sent["In-Reply-To"]], key=key, domain=domain) == uuid.UUID(found["id"])
    assert sent["References"] == sent["In-Reply-To"]
    assert "We refunded the second charge." in sent.get_content()


async def test_a_bad_signature_is_401_and_sends_nothing(gateway: Gateway) -> None:
    wrong = "whsec_" + base64.b64encode(b"not-the-gateways-secret-at-all!!").decode()
    status, answer = await post_delivery(gateway, create_delivery(str(uuid.uuid4()), "T20261207000001"), secret=wrong)
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    r = await gateway.http.client.post("/webhooks", content=b"{}")
    assert r.status_code == 401
    await asyncio.sleep(0.1)
    assert gateway.relayed() == []


async def test_relay_down_answers_5xx_so_intake_retries(gateway: Gateway, tmp_path: Path) -> None:
    down = gateway.settings.model_copy(update={"relay_port": free_port()})
    async with serve(create_gateway(down.model_copy(update={"smtp_port": free_port()}))) as other:
        body = json.dumps(create_delivery(str(uuid.uuid4()), "T20261207000001"))
        delivery = json.loads(body)
        headers = {
            "webhook-id": delivery["id"],
            "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
            "webhook-signature": Webhook(SECRET).sign(delivery["id"], datetime.now(UTC), body),
        }
        r = await other.client.post("/webhooks", content=body, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "relay_unavailable")
