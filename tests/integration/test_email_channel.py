"""The email channel end to end, nothing faked between the parts: the real intake (webhook worker
on, private addresses allowed), the email gateway subscribing itself through intake's channel
webhook API at start-up, and a local SMTP relay (aiosmtpd) that collects what the gateway sends.
A mail in becomes a ticket; an agent's reply goes out as a mail in the ticket's thread; the
customer's answer to it becomes a message on the ticket; the resolution carries the confirm and
reopen links; confirming closes the ticket, and that is mailed too. With feedback beside them,
the survey that falls due reaches the customer by mail: intake fetches its link from feedback as
it sends `survey.due`, and no link ever travels on a topic."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from tests.support import RunningService, admin_headers, agent_headers, assign_in_intake, eventually, serve
from ticketloop_emailgw.app import create_app as create_gateway
from ticketloop_emailgw.inbound import start_smtp
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.threads import ticket_in_references
from ticketloop_embedded.ports import free_port
from ticketloop_feedback.app import create_app as create_feedback
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.settings import PlatformSettings

DOMAIN = "mail.ticketloop.test"
OWNER = agent_headers("agent-test", department="after_sales")
NOTIFIER = agent_headers("mailer", Role.NOTIFIER)


@dataclass
class Relay:
    """An SMTP relay that keeps every mail it is handed."""

    mails: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.mails.append(email.message_from_bytes(raw, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"

    def about(self, subject_part: str) -> list[EmailMessage]:
        return [m for m in self.mails if subject_part in str(m["Subject"])]


@dataclass
class Channel:
    """intake, the gateway in front of it, and the relay behind it."""

    intake: RunningService
    gateway: RunningService
    settings: EmailGatewaySettings
    relay: Relay

    async def mail(self, message: EmailMessage) -> str:
        """Send a mail to the gateway as a customer's server would; the SMTP answer to DATA."""
        _, answer = await aiosmtplib.send(message, hostname="127.0.0.1", port=self.settings.smtp_port)
        return answer


async def start_relay(relay: Relay) -> tuple[Any, int]:
    server = await start_smtp(relay, "127.0.0.1", free_port(), data_size_limit=10_000_000)
    return server, server.sockets[0].getsockname()[1]


@asynccontextmanager
async def email_channel(
    platform: PlatformSettings, intake_database: str, folder: Path, **intake_settings: Any
) -> AsyncIterator[Channel]:
    """intake (webhook worker on, private addresses allowed), the relay, and the gateway, which
    subscribes itself at start-up; ready once the gateway holds its subscription's secret."""
    settings_of_intake = IntakeSettings(
        database_url=intake_database,
        platform=platform,
        webhooks_allow_private=True,
        webhooks_worker_enabled=True,
        webhooks_poll_seconds=0.05,
        **intake_settings,
    )
    relay = Relay()
    server, relay_port = await start_relay(relay)
    http_port = free_port()
    try:
        async with serve(create_intake(settings_of_intake)) as intake:
            settings = EmailGatewaySettings(
                intake_url=intake.url,
                http_port=http_port,
                smtp_port=free_port(),
                relay_port=relay_port,
                subscribe_on_start=True,
                webhook_secret_file=folder / "webhook-secret",
                thread_secret=SecretStr("integration-thread-secret-0123456789"),
                mail_domain=DOMAIN,
                relay_timeout_seconds=3,
            )
            async with serve(create_gateway(settings), port=http_port) as gateway:
                # The gateway subscribed itself through intake's API and holds the secret it was given.
                await eventually(lambda: gateway.app.state.receiver.key is not None)
                yield Channel(intake=intake, gateway=gateway, settings=settings, relay=relay)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def channel(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], tmp_path: Path
) -> AsyncIterator[Channel]:
    async with email_channel(platform, await new_database("intake"), tmp_path) as running:
        yield running


def create_mail(subject: str, body: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Jane Doe <jane@example.com>"
    message["To"] = "support@ticketloop.test"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def read_ticket(intake: RunningService, ticket_id: str) -> dict[str, Any]:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_a_mail_becomes_a_ticket_and_the_conversation_goes_both_ways_by_mail(channel: Channel) -> None:
    intake, relay, settings = channel.intake, channel.relay, channel.settings
    r = await intake.client.get("/v1/channel/webhooks", headers={"X-Api-Key": "tl-dev-channel-key"})
    [endpoint] = r.json()
    assert endpoint["url"] == settings.receiver_url and {"ticket.replied", "ticket.closed"} <= set(
        endpoint["event_types"]
    )

    # Mail in: a ticket.
    answer = await channel.mail(create_mail("[billing] Charged twice", "My card was charged twice."))
    assert "new ticket T" in answer
    r = await intake.client.get("/v1/tickets", params={"channel": "email"}, headers=admin_headers())
    [item] = r.json()["items"]
    ticket = await read_ticket(intake, item["id"])
    assert (ticket["category"], ticket["subject"]) == ("billing", "Charged twice")
    # The acknowledgement (issue 20): a mail starting the thread, with the number and deadlines.
    [ack] = await eventually(lambda: relay.about("We received your request"))
    assert ack["To"] == "jane@example.com" and ack["Subject"].startswith(f"[{ticket['number']}]")
    assert ticket["number"] in ack.get_content() and "a first answer from a person: by" in ack.get_content()
    await assign_in_intake(intake, intake.runtime.settings.platform, ticket)

    # An agent's reply through intake's API: a mail at the relay, in the ticket's thread.
    url = f"/v1/tickets/{ticket['id']}"
    r = await intake.client.post(f"{url}/replies", json={"body": "We refunded the second charge."}, headers=OWNER)
    assert r.status_code == 201, r.text
    [reply] = await eventually(lambda: relay.about("A reply to your request"))
    assert reply["To"] == "jane@example.com" and reply["Subject"].startswith(f"[{ticket['number']}]")
    key = settings.thread_key
    assert ticket_in_references([reply["Message-ID"]], key=key, domain=DOMAIN) == uuid.UUID(ticket["id"])
    assert ticket_in_references([reply["In-Reply-To"]], key=key, domain=DOMAIN) == uuid.UUID(ticket["id"])
    assert "We refunded the second charge." in reply.get_content()
    assert reply["In-Reply-To"] == ack["Message-ID"]  # the acknowledgement is the thread's root

    # The customer answers that mail: a message on the same ticket.
    answer = await channel.mail(
        create_mail(
            f"Re: {reply['Subject']}",
            "Thanks, I see it.\n\nOn Mon, support wrote:\n> We refunded the second charge.",
            In_Reply_To=reply["Message-ID"],
            References=f"{reply['References']} {reply['Message-ID']}",
        )
    )
    assert f"message on ticket {ticket['number']}" in answer
    timeline = (await read_ticket(intake, ticket["id"]))["timeline"]
    assert [e["body"] for e in timeline if e["kind"] == "message"] == ["Thanks, I see it."]

    # Resolved: a mail with the customer's confirm and reopen links.
    r = await intake.client.post(f"{url}/resolve", json={"resolution": "Refunded to your card"}, headers=OWNER)
    assert r.status_code == 200, r.text
    [resolved] = await eventually(lambda: relay.about("Your request is resolved"))
    text = resolved.get_content()
    assert "Refunded to your card" in text
    confirm = next(w for w in text.split() if w.endswith("/confirm"))
    assert next(w for w in text.split() if w.endswith("/reopen"))

    # The customer follows the confirm link: the ticket closes, and says so by mail.
    r = await intake.client.post(urlsplit(confirm).path)
    assert r.status_code == 200, r.text
    [closed] = await eventually(lambda: relay.about("Your request is closed"))
    assert closed["In-Reply-To"] == reply["In-Reply-To"] and ticket["number"] in closed.get_content()
    assert all(rcpt == ["jane@example.com"] for rcpt in relay.recipients)


async def test_a_restarted_gateway_reuses_its_subscription_and_one_that_lost_its_secret_rotates_it(
    channel: Channel, tmp_path: Path
) -> None:
    kept = channel.settings.webhook_secret_file.read_text()
    same = channel.settings.model_copy(update={"smtp_port": free_port()})
    async with serve(create_gateway(same), port=free_port()) as again:
        # Another start with the same receiver URL and secret file: the kept secret, no new endpoint.
        await eventually(lambda: again.app.state.receiver.key is not None)
    assert channel.settings.webhook_secret_file.read_text() == kept
    lost = channel.settings.model_copy(
        update={"smtp_port": free_port(), "webhook_secret_file": tmp_path / "elsewhere" / "secret"}
    )
    async with serve(create_gateway(lost), port=free_port()) as rotated:
        await eventually(lambda: rotated.app.state.receiver.key is not None)
    assert lost.webhook_secret_file.read_text() != kept
    r = await channel.intake.client.get("/v1/channel/webhooks", headers={"X-Api-Key": "tl-dev-channel-key"})
    [endpoint] = r.json()
    assert endpoint["previous_secret_valid_until"] is not None, "the old secret still signs during the overlap"


async def test_a_due_survey_reaches_the_customer_by_mail_and_leaves_the_notifiers_list(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], tmp_path: Path
) -> None:
    feedback_settings = FeedbackSettings(
        database_url=await new_database("feedback"),
        platform=platform,
        survey_timer_max_idle_seconds=0.05,
        ticket_survey_delay_minutes=0,
    )
    async with (
        serve(create_feedback(feedback_settings)) as feedback,
        email_channel(platform, await new_database("intake"), tmp_path, feedback_url=feedback.url) as channel,
    ):
        intake, relay = channel.intake, channel.relay
        await channel.mail(create_mail("[billing] Charged twice", "My card was charged twice."))
        r = await intake.client.get("/v1/tickets", params={"channel": "email"}, headers=admin_headers())
        ticket = await read_ticket(intake, r.json()["items"][0]["id"])
        await assign_in_intake(intake, platform, ticket)
        r = await intake.client.post(
            f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "Refunded"}, headers=OWNER
        )
        assert r.status_code == 200, r.text

        [mailed] = await eventually(lambda: relay.about("How did we do?"), timeout=30)
        link = next(w for w in mailed.get_content().split() if "/v1/surveys/" in w)
        assert mailed["To"] == "jane@example.com" and mailed["Subject"].startswith(f"[{ticket['number']}]")

        async def reported_delivered() -> dict[str, Any] | None:
            # The gateway mails before it answers the webhook; intake reports the delivery to
            # feedback when that answer comes: just after the mail, not before it.
            r = await feedback.client.get(f"/v1/tickets/{ticket['id']}/survey", headers=admin_headers())
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body if body["delivered_at"] is not None else None

        survey = await eventually(reported_delivered, timeout=10)
        listed = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"]
        assert survey["id"] not in {d["survey_id"] for d in listed}
        r = await feedback.client.get("/v1/audit", params={"action": "survey.link_issued"}, headers=admin_headers())
        assert [e["actor"] for e in r.json()["items"]] == ["intake-webhooks"]

        # The link in the mail is the survey's; answered, it is no longer handed out.
        r = await feedback.client.post(urlsplit(link).path, json={"csat": 5})
        assert r.status_code == 201, r.text
        r = await feedback.client.get(f"/v1/survey-deliveries/{survey['id']}", headers=NOTIFIER)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "survey_already_answered")
        r = await feedback.client.get(f"/v1/survey-deliveries/{uuid.uuid4()}", headers=NOTIFIER)
        assert r.status_code == 404
