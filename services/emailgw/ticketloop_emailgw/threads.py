"""The gateway's rules, as pure functions: how a mail finds its ticket without a database, who
its customer is, and what its subject asks for.

Threading is stateless. Every Message-ID the gateway sends is `<t.<ticket id>.<nonce>.<tag>@<domain>>`,
the tag an HMAC of the ticket id and nonce under the install's thread key: a reply's In-Reply-To or
References names its ticket, and nobody can forge one for a ticket they never got mail about. A
ticket number in the subject (`[T20261207000042]`) threads only when the sender is the ticket's
customer (the same pseudonymous customer id), since anyone can type a number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from ticketloop_shared.vocabulary import Category, Need, Urgency

# The public API's words (intake's `TicketCreate`), from the one vocabulary every service uses.
CATEGORIES = tuple(c.value for c in Category)
NEEDS = tuple(n.value for n in Need)
URGENCIES = tuple(u.value for u in Urgency)

_OUR_ID = re.compile(r"<?t\.([0-9a-f-]{36})\.([0-9a-f]{8,32})\.([0-9a-f]{16,64})@([^>\s]+)>?", re.IGNORECASE)
_NUMBER = re.compile(r"\[(T\d{14})\]")
_HINT = re.compile(r"\[([A-Za-z][A-Za-z _-]{1,30})\]")
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|wg)\s*:\s*)+", re.IGNORECASE)


def _tag(key: bytes, ticket_id: uuid.UUID, nonce: str) -> str:
    return hmac.new(key, f"thread:{ticket_id}.{nonce}".encode(), hashlib.sha256).hexdigest()[:24]


def new_message_id(ticket_id: uuid.UUID | None, *, key: bytes, domain: str, nonce: str | None = None) -> str:
    """A Message-ID (fresh, or fixed by `nonce`: 8-32 hex digits); about a ticket, it names the
    ticket (tagged), else it is a plain unique id."""
    nonce = (nonce or secrets.token_hex(8)).lower()
    if ticket_id is None:
        return f"<m.{nonce}.{secrets.token_hex(8)}@{domain}>"
    return f"<t.{ticket_id}.{nonce}.{_tag(key, ticket_id, nonce)}@{domain}>"


def ticket_in_references(message_ids: Iterable[str], *, key: bytes, domain: str) -> uuid.UUID | None:
    """The ticket named by the newest of the gateway's own Message-IDs among In-Reply-To and
    References (the last one wins: References lists oldest first); None when none is ours."""
    found: uuid.UUID | None = None
    for text in message_ids:
        for match in _OUR_ID.finditer(text):
            raw_id, nonce, tag, their_domain = match.groups()
            if their_domain.lower() != domain.lower():
                continue
            try:
                ticket_id = uuid.UUID(raw_id)
            except ValueError:
                continue
            if hmac.compare_digest(tag.lower(), _tag(key, ticket_id, nonce.lower())):
                found = ticket_id
    return found


def number_in_subject(subject: str) -> str | None:
    """The ticket number a subject carries, `[T20261207000042]` (the gateway's own subjects do)."""
    match = _NUMBER.search(subject)
    return match.group(1) if match else None


def customer_ref(address: str, *, key: bytes) -> str:
    """The customer id intake knows a sender by: stable per address and install, and no address
    (ids travel on event topics, which carry no personal data)."""
    digest = hmac.new(key, f"customer:{address.strip().lower()}".encode(), hashlib.sha256).hexdigest()
    return f"email-{digest[:32]}"


def idempotency_key(message_id: str | None, raw: bytes) -> str:
    """The Idempotency-Key of a mail: from its Message-ID, so a relay's retry of the same mail never
    makes a second ticket or message; a mail without one is keyed by its bytes (a retry resends them)."""
    basis = message_id.strip() if message_id and message_id.strip() else raw
    digest = hashlib.sha256(basis.encode() if isinstance(basis, str) else basis).hexdigest()
    return f"email-{digest}"


@dataclass(frozen=True)
class Hints:
    """What the subject asks for, and the subject without the hint tags."""

    category: str | None
    need: str | None
    urgency: str | None
    subject: str


def subject_hints(subject: str) -> Hints:
    """Bracketed tags naming a category, need or urgency of the public API, anywhere in the subject:
    `[urgent] [billing] Charged twice` is an urgent billing ticket "Charged twice". Case, spaces and
    dashes do not matter (`[Logistics delay]`); other brackets stay in the subject."""
    found: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        word = re.sub(r"[\s-]+", "_", match.group(1).strip().lower())
        for kind, known in (("urgency", URGENCIES), ("category", CATEGORIES), ("need", NEEDS)):
            if word in known and kind not in found:
                found[kind] = word
                return ""
        return match.group(0)

    cleaned = re.sub(r"\s{2,}", " ", _HINT.sub(take, subject)).strip()
    return Hints(found.get("category"), found.get("need"), found.get("urgency"), cleaned or subject.strip())


def outgoing_subject(number: str | None, subject: str) -> str:
    """`Re: [T…] <subject>`: the number first so a customer's reply keeps it whatever the client does."""
    base = _REPLY_PREFIX.sub("", subject).strip()
    if number is None:
        return base
    base = base.replace(f"[{number}]", "").strip()
    return f"[{number}] {base}".strip()
