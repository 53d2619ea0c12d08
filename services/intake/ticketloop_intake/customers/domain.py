"""The pseudonymous customer id: what leaves intake instead of the channel's own reference.

A channel may use an e-mail address or a phone number as its customer id. Intake keeps that
reference only sealed with the customer's key (`tickets.customer_reference`), and stores and
announces `pseudonym(reference)` everywhere else: on every topic, in every other service's
database, in staff answers and admin webhooks. Only the channel that owns a ticket sees its own
reference again (read-back, its webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

PREFIX = "cus_"
# 26 base32 characters carry 130 bits of the HMAC: no two customers of an install meet.
_DIGITS = 26
_DOMAIN = b"customer-reference\x1f"
_SHAPE = re.compile(rf"^{PREFIX}[a-z2-7]{{{_DIGITS}}}$")


def pseudonym(key: bytes, reference: str) -> str:
    """`cus_` + base32(HMAC-SHA256(key, "customer-reference" US reference)), lowercased, unpadded,
    26 characters: deterministic, so every replica agrees and the hot path looks nothing up; one
    way, so without the install's key a reference cannot be recovered or even tested."""
    mac = hmac.new(key, _DOMAIN + reference.encode(), hashlib.sha256).digest()
    return PREFIX + base64.b32encode(mac).decode().rstrip("=").lower()[:_DIGITS]


def looks_pseudonymous(value: str) -> bool:
    """Whether `value` has a pseudonym's shape (a reference rarely does, but may: callers that
    accept either try both)."""
    return _SHAPE.fullmatch(value) is not None


def candidates(key: bytes, value: str) -> tuple[str, ...]:
    """The stored customer ids `value` may stand for: the pseudonym of it taken as a reference,
    and itself (a pseudonym, or a reference not yet re-keyed); the likelier one first."""
    derived = pseudonym(key, value)
    return (value, derived) if looks_pseudonymous(value) else (derived, value)
