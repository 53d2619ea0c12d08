"""Mail out: a channel webhook delivery as a plain-text mail to the customer, in the ticket's
thread, sent through the SMTP relay."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined

from ticketloop_emailgw.mail import is_address
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.threads import new_message_id, outgoing_subject


@dataclass(frozen=True)
class Kind:
    """How one event type reads as a mail."""

    template: str
    subject: str
    # The mail starts the ticket's thread (its Message-ID is the thread's root) instead of answering it.
    root: bool = False


# The channel events that reach the customer by mail; any other type is acknowledged and dropped.
KINDS: Mapping[str, Kind] = {
    "ticket.acknowledged": Kind("acknowledged.txt", "We received your request", root=True),
    "ticket.replied": Kind("replied.txt", "A reply to your request"),
    "ticket.waiting": Kind("waiting.txt", "We need more information"),
    "ticket.updated": Kind("updated.txt", "An update on your request"),
    "ticket.plan_committed": Kind("plan_committed.txt", "Our plan for your request"),
    "ticket.resolved": Kind("resolved.txt", "Your request is resolved"),
    "ticket.closed": Kind("closed.txt", "Your request is closed"),
    "ticket.reopened": Kind("reopened.txt", "Your request is open again"),
    "survey.due": Kind("survey_due.txt", "How did we do?"),
}

# Text mail: autoescape off is right here (no HTML is produced); undefined names fail loudly in tests.
_templates = Environment(
    loader=PackageLoader("ticketloop_emailgw", "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
)
_DEADLINE_LABELS = {
    "acknowledgement_due": "acknowledgement",
    "first_response_due": "a first answer from a person",
    "resolution_due": "a solution or a plan to solve it",
}
# Why a ticket reopened (`ticket.reopened`'s `reason`), in the customer's words.
_REOPEN_REASONS = {
    "customer_message": "you wrote to us again",
    "customer_request": "at your request",
    "repeat_contact": "you contacted us again about it",
}


@dataclass(frozen=True)
class Delivery:
    """A channel webhook delivery (the plan's contract: `{"id","type","timestamp","data"}`)."""

    id: str
    type: str
    data: Mapping[str, Any]


class NotMailable(Exception):
    """A delivery that makes no mail (another channel's ticket, no address): acknowledged, dropped."""


def compose(delivery: Delivery, settings: EmailGatewaySettings, *, webhook_id: str) -> EmailMessage:
    """The mail for a delivery: to the ticket's contact, subject `[T…] …`, a Message-ID naming the
    ticket (the same for a redelivery of the same webhook id, so a client shows one mail), and
    In-Reply-To/References to the ticket's thread root. NotMailable when it makes no mail."""
    kind = KINDS.get(delivery.type)
    if kind is None:
        raise NotMailable(f"{delivery.type} is not mailed")
    data = delivery.data
    channel = data.get("channel")
    if channel is not None and channel != "email":
        raise NotMailable(f"a {channel} ticket is not answered by mail")
    contact = str(data.get("contact") or "").strip()
    if not is_address(contact):
        raise NotMailable("the delivery has no customer address")
    ticket_id = _uuid(data.get("ticket_id"))
    number = data.get("number") if isinstance(data.get("number"), str) else None
    key, domain = settings.thread_key, settings.mail_domain
    message = EmailMessage()
    message["From"] = formataddr((settings.from_name, settings.from_address))
    message["To"] = contact
    subject = str(data.get("subject") or kind.subject)
    message["Subject"] = outgoing_subject(number, subject)
    message["Date"] = format_datetime(datetime.now().astimezone())
    nonce = hmac.new(key, f"delivery:{webhook_id}".encode(), hashlib.sha256).hexdigest()[:16]
    root = thread_root(ticket_id, settings) if ticket_id is not None else None
    if kind.root and root is not None:
        message["Message-ID"] = root
    else:
        message["Message-ID"] = new_message_id(ticket_id, key=key, domain=domain, nonce=nonce)
        if root is not None:
            message["In-Reply-To"] = root
            message["References"] = root
    message["Auto-Submitted"] = "auto-generated"
    if ticket_id is not None:
        message["X-Ticketloop-Ticket"] = str(ticket_id)
    message.set_content(render_text(kind, data, settings))
    return message


def thread_root(ticket_id: uuid.UUID, settings: EmailGatewaySettings) -> str:
    """The ticket's thread root: the acknowledgement's Message-ID, which every later mail answers."""
    return new_message_id(ticket_id, key=settings.thread_key, domain=settings.mail_domain, nonce="0" * 16)


def render_text(kind: Kind, data: Mapping[str, Any], settings: EmailGatewaySettings) -> str:
    """The plain-text body of one kind of mail, from the delivery's data."""
    found = data.get("message")
    message: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    attachments = [str(a.get("filename")) for a in (message.get("attachments") or []) if isinstance(a, Mapping)]
    number = data.get("number")
    return _templates.get_template(kind.template).render(
        name=_text(data.get("customer_name")),
        number=_text(number),
        number_tag=f"[{number}]" if number else "the ticket number",
        text=_text(data.get("text") or message.get("text")),
        attachments=attachments,
        owner=_name(data.get("owner")),
        department=_name(data.get("department")),
        deadlines=_deadlines(data.get("deadlines")),
        committed=_when(data.get("committed_resolution_at")),
        confirm_url=_text(data.get("confirm_url")),
        reopen_url=_text(data.get("reopen_url")),
        survey_url=_text(data.get("survey_url")),
        automatic=data.get("automatic") is True,
        reason=_REOPEN_REASONS.get(str(data.get("reason")), ""),
        signature=settings.from_name,
    )


async def send(message: EmailMessage, settings: EmailGatewaySettings) -> None:
    """Hand the mail to the relay; raises (aiosmtplib.SMTPException, OSError) when it does not take it."""
    password = settings.relay_password.get_secret_value() if settings.relay_password is not None else None
    await aiosmtplib.send(
        message,
        hostname=settings.relay_host,
        port=settings.relay_port,
        username=settings.relay_username,
        password=password,
        start_tls=settings.relay_starttls,
        use_tls=False,
        timeout=settings.relay_timeout_seconds,
    )


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _name(value: Any) -> str:
    """An owner or department given as a name or as an object with one."""
    if isinstance(value, Mapping):
        return _text(value.get("name") or value.get("agent_name") or value.get("department_name"))
    return _text(value)


def _when(value: Any) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).strftime("%a %d %b %Y, %H:%M %Z").strip()
    except ValueError:
        return str(value)


def _deadlines(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return []
    return [(_DEADLINE_LABELS.get(k, k.replace("_", " ")), _when(v)) for k, v in value.items() if v]
