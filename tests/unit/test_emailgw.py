"""The email gateway's pure parts: reading mail, stateless threading, subject hints, rendering
the outgoing mail, and the webhook signature check (against the independent `standardwebhooks`)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from standardwebhooks.webhooks import Webhook

from ticketloop_emailgw.mail import MalformedMail, description_of, html_to_text, parse_mail, strip_quoted
from ticketloop_emailgw.outbound import KINDS, Delivery, NotMailable, compose, thread_root
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.threads import (
    CATEGORIES,
    NEEDS,
    URGENCIES,
    customer_ref,
    idempotency_key,
    new_message_id,
    number_in_subject,
    outgoing_subject,
    subject_hints,
    ticket_in_references,
)
from ticketloop_emailgw.webhooks import BadSignature, Receiver, RecentIds, verify
from ticketloop_shared.vocabulary import Category, Need, Urgency

KEY = b"unit-test-thread-key-0123456789"
DOMAIN = "mail.example.test"
SECRET = "whsec_" + base64.b64encode(b"unit-test-webhook-secret-32bytes").decode()


def create_settings(**overrides: Any) -> EmailGatewaySettings:
    values: dict[str, Any] = {
        "thread_secret": SecretStr(KEY.decode()),
        "mail_domain": DOMAIN,
        "webhook_secret": SecretStr(SECRET),
        **overrides,
    }
    return EmailGatewaySettings(**values)


def create_mail(body: str = "My card was charged twice.", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Jane Doe <jane@example.com>")
    message["To"] = "support@ticketloop.localhost"
    message["Subject"] = headers.pop("Subject", "Charged twice")
    message["Message-ID"] = headers.pop("Message_ID", "<abc123@example.com>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)


def create_delivery(kind: str = "ticket.replied", ticket_id: uuid.UUID | None = None, **data: Any) -> Delivery:
    payload: dict[str, Any] = {
        "ticket_id": str(ticket_id or uuid.uuid4()),
        "number": "T20261207000042",
        "customer_id": "email-abc",
        "channel": "email",
        "contact": "jane@example.com",
        "message": {"text": "We refunded the second charge.", "attachments": []},
        **data,
    }
    return Delivery(id=f"evt-{uuid.uuid4().hex}", type=kind, data=payload)


# --- reading mail ---------------------------------------------------------------------------


def test_a_plain_mail_gives_sender_subject_text_and_message_id() -> None:
    mail = parse_mail(create_mail())
    assert (mail.sender, mail.sender_name, mail.subject) == ("jane@example.com", "Jane Doe", "Charged twice")
    assert mail.text == "My card was charged twice."
    assert mail.message_id == "<abc123@example.com>"
    assert mail.references == ()


def test_an_html_only_mail_is_read_as_text_without_scripts() -> None:
    message = EmailMessage()
    message["From"] = "jane@example.com"
    message["Subject"] = "Hi"
    html = "<html><head><style>p{}</style></head><body><p>Line &amp; one</p><script>x()</script><p>two</p></body>"
    message.set_content(html, subtype="html")
    mail = parse_mail(bytes(message))
    assert mail.text == "Line & one\n\ntwo"
    assert mail.sender_name == "jane"


def test_html_to_text_keeps_blocks_on_their_own_lines() -> None:
    assert html_to_text("<div>a<br>b</div><ul><li>c</li><li>d</li></ul>") == "a\nb\n\nc\n\nd"


def test_a_multipart_mail_prefers_the_text_part() -> None:
    message = EmailMessage()
    message["From"] = "jane@example.com"
    message["Subject"] = "Hi"
    message.set_content("the text part")
    message.add_alternative("<p>the html part</p>", subtype="html")
    assert parse_mail(bytes(message)).text == "the text part"


def test_a_mail_without_a_sender_is_malformed_unless_the_envelope_names_one() -> None:
    raw = b"Subject: hi\r\n\r\nbody\r\n"
    with pytest.raises(MalformedMail):
        parse_mail(raw)
    assert parse_mail(raw, envelope_from="bob@example.org").sender == "bob@example.org"


def test_garbage_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedMail):
        parse_mail(b"\x00\xff\xfe not a mail at all")


def test_an_empty_subject_and_long_text_fit_intakes_limits() -> None:
    mail = parse_mail(create_mail(body="x" * 20_000, Subject=""))
    assert mail.subject == "(no subject)"
    assert len(description_of(mail, reply=False)) == 10_000


def test_a_reply_loses_its_quoted_history() -> None:
    text = "Yes, order 1234.\n\nOn Mon, 7 Dec 2026 at 10:00, support wrote:\n> What is your order?\n> Thanks"
    assert strip_quoted(text) == "Yes, order 1234."
    assert strip_quoted("> only a quote") == "> only a quote"


# --- threading ------------------------------------------------------------------------------


def test_our_message_id_names_its_ticket() -> None:
    ticket = uuid.uuid4()
    message_id = new_message_id(ticket, key=KEY, domain=DOMAIN)
    assert message_id.startswith(f"<t.{ticket}.") and message_id.endswith(f"@{DOMAIN}>")
    assert new_message_id(ticket, key=KEY, domain=DOMAIN) != message_id
    assert ticket_in_references([message_id], key=KEY, domain=DOMAIN) == ticket
    references = f"<first@example.com> {message_id}"
    assert ticket_in_references(["<other@example.com>", references], key=KEY, domain=DOMAIN) == ticket


def test_a_forged_or_foreign_message_id_names_no_ticket() -> None:
    ticket = uuid.uuid4()
    genuine = new_message_id(ticket, key=KEY, domain=DOMAIN)
    forged = genuine.replace(str(ticket), str(uuid.uuid4()))
    assert ticket_in_references([forged], key=KEY, domain=DOMAIN) is None
    assert ticket_in_references([genuine], key=b"another-install-key-xxxxxxxxx", domain=DOMAIN) is None
    assert ticket_in_references([genuine], key=KEY, domain="elsewhere.test") is None
    assert ticket_in_references(["<abc@example.com>"], key=KEY, domain=DOMAIN) is None


def test_the_ticket_number_is_found_in_a_subject() -> None:
    assert number_in_subject("Re: [T20261207000042] Charged twice") == "T20261207000042"
    assert number_in_subject("T20261207000042 without brackets") is None


def test_a_customer_id_is_stable_per_address_and_holds_no_address() -> None:
    ref = customer_ref("Jane@Example.com ", key=KEY)
    assert ref == customer_ref("jane@example.com", key=KEY)
    assert "jane" not in ref and ref.startswith("email-") and len(ref) <= 100
    assert ref != customer_ref("jane@example.com", key=b"other-key-0000000000000000")


def test_the_idempotency_key_comes_from_the_message_id_else_the_bytes() -> None:
    assert idempotency_key("<a@b>", b"one") == idempotency_key("<a@b>", b"two")
    assert idempotency_key(None, b"one") == idempotency_key(None, b"one") != idempotency_key(None, b"two")
    assert len(idempotency_key("<a@b>" * 100, b"")) <= 200


def test_subject_hints_set_category_need_and_urgency_and_leave_the_subject_clean() -> None:
    hints = subject_hints("[Urgent] [billing] [refund] Charged twice [order 12]")
    assert (hints.category, hints.need, hints.urgency) == ("billing", "refund", "urgent")
    assert hints.subject == "Charged twice [order 12]"
    assert subject_hints("[logistics-delay] Late").category == "logistics_delay"
    assert subject_hints("Plain").category is None


def test_the_gateways_words_are_the_public_apis() -> None:
    assert CATEGORIES == tuple(c.value for c in Category)
    assert NEEDS == tuple(n.value for n in Need)
    assert URGENCIES == tuple(u.value for u in Urgency)


def test_outgoing_subjects_carry_the_number_once() -> None:
    assert outgoing_subject("T1", "Re: Fwd: Charged twice") == "[T1] Charged twice"
    assert outgoing_subject("T1", "Re: [T1] Charged twice") == "[T1] Charged twice"
    assert outgoing_subject(None, "How did we do?") == "How did we do?"


# --- rendering ------------------------------------------------------------------------------


def test_a_reply_is_mailed_to_the_contact_in_the_tickets_thread() -> None:
    settings = create_settings()
    ticket = uuid.uuid4()
    message = compose(create_delivery(ticket_id=ticket), settings, webhook_id="msg_1")
    assert message["To"] == "jane@example.com"
    assert message["Subject"] == "[T20261207000042] A reply to your request"
    assert ticket_in_references([message["Message-ID"]], key=KEY, domain=DOMAIN) == ticket
    assert message["In-Reply-To"] == message["References"] == thread_root(ticket, settings)
    assert "We refunded the second charge." in message.get_content()
    # A redelivery of the same webhook gets the same Message-ID (a mail client shows it once).
    assert (
        compose(create_delivery(ticket_id=ticket), settings, webhook_id="msg_1")["Message-ID"] == message["Message-ID"]
    )


def test_the_acknowledgement_starts_the_thread_and_lists_the_deadlines() -> None:
    settings = create_settings()
    ticket = uuid.uuid4()
    delivery = create_delivery(
        "ticket.acknowledged",
        ticket_id=ticket,
        department={"id": "finance", "name": "Finance"},
        owner=None,
        deadlines={"first_response_due": "2026-12-07T12:00:00+00:00", "resolution_due": None},
    )
    message = compose(delivery, settings, webhook_id="msg_2")
    assert message["Message-ID"] == thread_root(ticket, settings)
    assert message["In-Reply-To"] is None
    body = message.get_content()
    assert "T20261207000042" in body and "Finance" in body
    assert "a first answer from a person: by Mon 07 Dec 2026, 12:00 UTC" in body


def test_the_resolution_mail_carries_the_confirm_and_reopen_links() -> None:
    body = compose(
        create_delivery(
            "ticket.resolved", text="Refunded.", confirm_url="https://x/confirm", reopen_url="https://x/re"
        ),
        create_settings(),
        webhook_id="msg_3",
    ).get_content()
    assert "Refunded." in body and "https://x/confirm" in body and "https://x/re" in body


def test_closing_and_reopening_are_short_mails_in_the_thread() -> None:
    settings, ticket_id = create_settings(), uuid.uuid4()
    closed = compose(
        create_delivery("ticket.closed", ticket_id, message=None, automatic=True), settings, webhook_id="c"
    )
    assert closed["Subject"] == "[T20261207000042] Your request is closed"
    assert closed["In-Reply-To"] == thread_root(ticket_id, settings)
    assert "T20261207000042 is closed, as we heard nothing more from you" in closed.get_content()
    reopened = compose(
        create_delivery("ticket.reopened", ticket_id, message=None, reason="customer_request"),
        settings,
        webhook_id="r",
    )
    assert "We reopened your request T20261207000042 (at your request)" in reopened.get_content()
    assert "customer_request" not in reopened.get_content()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_mailed_kind_renders(kind: str) -> None:
    data: dict[str, Any] = {
        "text": "t",
        "committed_resolution_at": "2026-12-08T09:00:00+00:00",
        "survey_url": "https://s/1",
    }
    message = compose(create_delivery(kind, **data), create_settings(), webhook_id=f"m-{kind}")
    assert message.get_content().strip()


def test_other_channels_unknown_types_and_missing_addresses_make_no_mail() -> None:
    settings = create_settings()
    for delivery in (
        create_delivery(channel="web"),
        create_delivery("webhook.test"),
        create_delivery(contact="+86 138 0013 8000"),
    ):
        with pytest.raises(NotMailable):
            compose(delivery, settings, webhook_id="x")


# --- webhook signatures ---------------------------------------------------------------------


def signed(body: bytes, *, secret: str = SECRET, msg_id: str = "msg_1", at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def test_a_standard_webhooks_signature_verifies() -> None:
    body = b'{"id": "1"}'
    settings = create_settings()
    assert verify(settings.webhook_key, signed(body), body, tolerance_seconds=300, now=time.time()) == "msg_1"


def test_a_bad_signature_a_stale_timestamp_or_no_secret_is_refused() -> None:
    body = b'{"id": "1"}'
    key = create_settings().webhook_key
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-xx").decode()
    with pytest.raises(BadSignature):
        verify(key, signed(body, secret=other), body, tolerance_seconds=300, now=time.time())
    with pytest.raises(BadSignature):
        verify(key, signed(body), body + b" ", tolerance_seconds=300, now=time.time())
    with pytest.raises(BadSignature):
        verify(key, signed(body), body, tolerance_seconds=300, now=time.time() + 301)
    with pytest.raises(BadSignature):
        verify(None, signed(body), body, tolerance_seconds=300, now=time.time())
    with pytest.raises(BadSignature):
        verify(key, {}, body, tolerance_seconds=300, now=time.time())


def test_the_recent_ids_window_is_bounded() -> None:
    recent = RecentIds(2)
    for webhook_id in ("a", "b", "c"):
        recent.add(webhook_id)
    assert "a" not in recent and "b" in recent and "c" in recent


async def test_the_receiver_mails_once_per_webhook_id_and_asks_for_a_retry_when_the_relay_fails() -> None:
    sent: list[EmailMessage] = []
    failing = True

    async def send(message: EmailMessage) -> None:
        if failing:
            raise OSError("relay down")
        sent.append(message)

    receiver = Receiver(create_settings(), send)
    delivery = create_delivery()
    body = json.dumps({"id": delivery.id, "type": delivery.type, "timestamp": "x", "data": dict(delivery.data)})
    headers = signed(body.encode(), msg_id=delivery.id)
    assert (await receiver.receive(headers, body.encode()))[0] == 503
    failing = False
    assert (await receiver.receive(headers, body.encode()))[0] == 200
    status, answer = await receiver.receive(headers, body.encode())
    assert (status, answer["status"], len(sent)) == (200, "duplicate", 1)


def test_settings_refuse_a_malformed_secret_unknown_defaults_and_dev_values_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        create_settings(webhook_secret=SecretStr("whsec_not base64!"))
    with pytest.raises(ValidationError):
        create_settings(default_category="nonsense")
    with pytest.raises(ValidationError):
        create_settings(env="production")
    assert create_settings(thread_secret=None, thread_secret_file=tmp_path / "s").thread_key
