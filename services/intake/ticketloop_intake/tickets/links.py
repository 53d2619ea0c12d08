"""The customer's no-login link to confirm a solution or reopen the problem.

Stateless: the token is the ticket id and the instant it was resolved, signed with intake's own
link key. Nothing is stored, so nothing leaks from the database; a new resolution (after a
reopen) changes the instant, which retires every earlier link of the ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ticketloop_shared.errors import NotFound

_MAC_BYTES = 16
_PAYLOAD = struct.Struct(">16sq")  # ticket id, resolved_at in microseconds since the epoch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LinkClaim:
    """What a verified link names: the ticket and the resolution it was issued for."""

    ticket_id: uuid.UUID
    resolved_at: datetime


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"customer-link\x1f" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def issue(key: bytes, ticket_id: uuid.UUID, resolved_at: datetime) -> str:
    """The token of the link for this resolution of the ticket."""
    payload = _PAYLOAD.pack(ticket_id.bytes, _micros(resolved_at))
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).rstrip(b"=").decode()


def verify(key: bytes, token: str) -> LinkClaim:
    """The ticket and resolution a token names, or `NotFound` (a forged, damaged or foreign token
    reveals nothing, not even that it was nearly right)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raw = b""
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if len(raw) != _PAYLOAD.size + _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, payload)):
        raise NotFound("no such link", code="link_not_found")
    ticket_bytes, micros = _PAYLOAD.unpack(payload)
    resolved_at = _EPOCH + timedelta(microseconds=micros)
    return LinkClaim(ticket_id=uuid.UUID(bytes=ticket_bytes), resolved_at=resolved_at)


def same_instant(a: datetime | None, b: datetime) -> bool:
    """The ticket's resolution is still the one the link was issued for (to the microsecond)."""
    return a is not None and _micros(a) == _micros(b)
