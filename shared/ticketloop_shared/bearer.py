"""Bearer secrets a service hands out and must recognise later (channel keys, survey links): made
random and long, stored only as a digest, looked up by the digest.

Why a plain SHA-256 and not an HMAC or a slow KDF: each secret carries at least 192 random bits,
so its digest cannot be guessed back, however fast the hash; a key (pepper) would add nothing for
such secrets and would tie every link already with a customer to the install's secret (rotating
that would break them). A slow KDF is for low-entropy secrets (passwords), and would make every
lookup cost milliseconds."""

from __future__ import annotations

import hashlib
import secrets

# 24 random bytes: 192 bits, 32 characters of URL-safe base64.
BEARER_BYTES = 24


def new_bearer(nbytes: int = BEARER_BYTES) -> str:
    """A fresh unguessable secret, URL-safe."""
    return secrets.token_urlsafe(nbytes)


def bearer_digest(secret: str) -> str:
    """What is stored of a bearer secret: its SHA-256, in hex (64 characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()
