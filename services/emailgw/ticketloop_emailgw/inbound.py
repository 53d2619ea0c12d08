"""SMTP in: each accepted mail becomes a ticket or a customer message in intake, before the
gateway answers 250. Nothing is queued here: when intake cannot take the mail, the sending server
is told 451 and keeps it for a retry (the Idempotency-Key makes that retry safe)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from ticketloop_emailgw.intake import IntakeClient, IntakeRefused, IntakeUnavailable, TicketRef
from ticketloop_emailgw.mail import InboundMail, MalformedMail, description_of, parse_mail
from ticketloop_emailgw.settings import EmailGatewaySettings
from ticketloop_emailgw.threads import (
    customer_ref,
    idempotency_key,
    number_in_subject,
    subject_hints,
    ticket_in_references,
)

log = logging.getLogger("ticketloop_emailgw.inbound")

# intake's answers to a message on a ticket the mail cannot join (closed past reopening, erased,
# another channel's): the mail then opens a ticket of its own instead of being lost.
_NOT_JOINABLE = frozenset({403, 404, 409, 410})


@dataclass(frozen=True)
class Accepted:
    """What a mail became."""

    ticket: TicketRef
    new_ticket: bool


async def take_mail(mail: InboundMail, raw: bytes, *, intake: IntakeClient, settings: EmailGatewaySettings) -> Accepted:
    """A reply to one of the gateway's mails (or naming its customer's ticket number) is a message
    on that ticket; anything else is a new ticket, its category, need and urgency from the subject's
    hints or the defaults. Raises IntakeUnavailable (try later) or IntakeRefused (never will do)."""
    key = idempotency_key(mail.message_id, raw)
    customer = customer_ref(mail.sender, key=settings.thread_key)
    ticket_id = ticket_in_references(mail.references, key=settings.thread_key, domain=settings.mail_domain)
    if ticket_id is None and (number := number_in_subject(mail.subject)) is not None:
        found = await intake.find_by_number(number)
        if found is not None and found.customer_id == customer:
            ticket_id = found.id
    if ticket_id is not None:
        try:
            ref = await intake.add_message(ticket_id, description_of(mail, reply=True), idempotency_key=key)
            return Accepted(ref, new_ticket=False)
        except IntakeRefused as exc:
            if exc.status not in _NOT_JOINABLE:
                raise
            log.info("a reply to ticket %s cannot join it (%s): it opens a new ticket", ticket_id, exc.code)
            key = f"{key}-new"
    hints = subject_hints(mail.subject)
    body = {
        "channel": "email",
        "customer": {"id": customer, "name": mail.sender_name, "contact": mail.sender, "preferred_channel": "email"},
        "category": hints.category or settings.default_category,
        "need": hints.need or settings.default_need,
        "urgency": hints.urgency or settings.default_urgency,
        "subject": hints.subject,
        "description": description_of(mail, reply=False),
    }
    ref = await intake.create_ticket(body, idempotency_key=key)
    return Accepted(ref, new_ticket=True)


class InboundHandler:
    """The aiosmtpd handler of the gateway's own SMTP server."""

    def __init__(self, *, intake: IntakeClient, settings: EmailGatewaySettings) -> None:
        self.intake = intake
        self.settings = settings

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Answer 250 once intake holds the mail, 451 while intake cannot, 550 for a mail that will
        never make a ticket (no sender, refused by intake)."""
        raw = envelope.original_content or (
            envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        )
        try:
            mail = parse_mail(raw, envelope_from=envelope.mail_from)
        except MalformedMail as exc:
            return f"550 5.6.0 {exc}"
        try:
            accepted = await take_mail(mail, raw, intake=self.intake, settings=self.settings)
        except IntakeUnavailable as exc:
            log.warning("mail not taken, the sender will retry: %s", exc)
            return "451 4.3.0 ticketloop is unavailable, please try again later"
        except IntakeRefused as exc:
            log.warning("intake refused a mail: %s", exc)
            return f"550 5.7.1 ticketloop refused this mail ({exc.code})"
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must cost a retry, never the gateway
            log.exception("mail not taken")
            return "451 4.3.0 temporary failure, please try again later"
        what = "new ticket" if accepted.new_ticket else "message on ticket"
        return f"250 2.0.0 OK {what} {accepted.ticket.number}"


async def start_smtp(handler: Any, host: str, port: int, *, data_size_limit: int) -> asyncio.Server:
    """An aiosmtpd server on the running event loop (the one uvicorn serves the webhooks on)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            ident="ticketloop email gateway",
            hostname=host,
        ),
        host=host,
        port=port,
    )
