"""The rules of webhooks, as pure functions: which ticket events a channel is told about, what
an answer from a receiver means, when to try again, and when an endpoint is given up on."""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ticketloop_shared.events import (
    Envelope,
    TicketClosed,
    TicketCreated,
    TicketPlanCommitted,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatusChanged,
    TicketUpdated,
)
from ticketloop_shared.webhooks import retry_delay


class Owner(StrEnum):
    """Who subscribed an endpoint."""

    CHANNEL = "channel"
    ADMIN = "admin"


class EndpointStatus(StrEnum):
    """An endpoint receives only while active; paused by its owner, disabled by intake."""

    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # The customer's data was erased before it was sent: its payload can no longer be opened.
    ERASED = "erased"
    # What it announced no longer holds (a survey answered, withdrawn or expired before its link
    # went out): nothing to send.
    CANCELLED = "cancelled"


class ChannelEvent(StrEnum):
    """What a channel can subscribe to about the tickets it reported (unversioned, like
    Zendesk's or Svix's event names; the payload only grows).

    `ticket.acknowledged` is sent at acceptance (number, department/owner if known, deadlines);
    its 2xx is what meets the acknowledgement clock. `survey.due` is written when feedback
    announces a ticket's survey due (`feedback.survey_sent.v2`); its link is fetched from
    feedback when the delivery is sent."""

    ACKNOWLEDGED = "ticket.acknowledged"
    REPLIED = "ticket.replied"
    WAITING = "ticket.waiting"
    UPDATED = "ticket.updated"
    PLAN_COMMITTED = "ticket.plan_committed"
    RESOLVED = "ticket.resolved"
    CLOSED = "ticket.closed"
    REOPENED = "ticket.reopened"
    SURVEY_DUE = "survey.due"


# The field of a `survey.due` payload that carries the link, filled in only when it is sent.
SURVEY_URL = "survey_url"

# The test event any endpoint can ask for.
TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class TextSource:
    """Which timeline entry's text a channel event carries: the one the event names, or the
    newest of a kind (a request for information has no event of its own, only the status move)."""

    by_message_id: bool = False
    latest_kind: str | None = None


# The text each channel event carries (absent: none).
TEXT_OF: dict[ChannelEvent, TextSource] = {
    ChannelEvent.REPLIED: TextSource(by_message_id=True),
    ChannelEvent.UPDATED: TextSource(by_message_id=True),
    ChannelEvent.WAITING: TextSource(latest_kind="waiting"),
    ChannelEvent.PLAN_COMMITTED: TextSource(latest_kind="plan"),
    ChannelEvent.RESOLVED: TextSource(latest_kind="resolved"),
}


def channel_event_for(event: Envelope) -> ChannelEvent | None:
    """The channel event a catalog event is, if a channel is told about it at all."""
    if isinstance(event, TicketCreated):
        # The acknowledgement: built at acceptance, with the deadlines that apply.
        return ChannelEvent.ACKNOWLEDGED
    if isinstance(event, TicketReplied):
        return ChannelEvent.REPLIED
    if isinstance(event, TicketStatusChanged):
        return ChannelEvent.WAITING if event.data.action == "wait" else None
    if isinstance(event, TicketUpdated):
        return ChannelEvent.UPDATED
    if isinstance(event, TicketPlanCommitted):
        return ChannelEvent.PLAN_COMMITTED
    if isinstance(event, TicketResolved):
        return ChannelEvent.RESOLVED
    if isinstance(event, TicketClosed):
        return ChannelEvent.CLOSED
    if isinstance(event, TicketReopened):
        return ChannelEvent.REOPENED
    return None


class Verdict(StrEnum):
    """What one attempt's answer means for its delivery."""

    DELIVERED = "delivered"
    # 410 Gone: the receiver says the endpoint no longer exists; disable it.
    GONE = "gone"
    RETRY = "retry"
    # The last attempt failed: the delivery is failed (a replay sends it again).
    GIVE_UP = "give_up"


def verdict(status_code: int | None, *, attempts: int, max_attempts: int) -> Verdict:
    """A 2xx delivers; 410 disables; anything else (another status, a timeout, a refused
    connection) is retried until `max_attempts` attempts were made."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.GIVE_UP if attempts >= max_attempts else Verdict.RETRY


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule (see `ticketloop_shared.webhooks.retry_delay`)."""

    base_seconds: float
    factor: float
    cap_seconds: float

    def next_attempt(self, now: datetime, attempts: int, rng: random.Random | None = None) -> datetime:
        """When to try again after `attempts` failed attempts."""
        delay = retry_delay(attempts, base=self.base_seconds, factor=self.factor, cap=self.cap_seconds, rng=rng)
        return now + timedelta(seconds=delay)


def failing_too_long(failing_since: datetime | None, now: datetime, limit: timedelta) -> bool:
    """An endpoint that has not succeeded since `failing_since` is disabled once `limit` passed."""
    return failing_since is not None and now - failing_since >= limit


def secret_sealing_key(master: bytes) -> bytes:
    """The install key that seals endpoints' signing secrets (derived, never the master itself)."""
    return hmac.new(master, b"ticketloop-intake-webhook-secrets", hashlib.sha256).digest()
