"""Cross-site request forgery guards of the server-rendered pages (the workspace and the review
dashboard): forms posted from this site only (`Origin`), carrying a token bound to the session.

The token is an HMAC of the session's staff-token id (`jti`) under a key derived from the signing
secret and the pages' purpose: nothing is stored server-side, a token seen in one session (or by
one application) is worthless in another, and the key is never the secret itself.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

FIELD = "csrf"


def csrf_key(signing_secret: str, purpose: str) -> bytes:
    """The CSRF key of this install for one application's pages (`workspace`, `dashboard`)."""
    return hmac.new(signing_secret.encode(), f"ticketloop-{purpose}-csrf-v1".encode(), hashlib.sha256).digest()


def csrf_token(key: bytes, jti: str) -> str:
    """The token every form of a session carries."""
    return hmac.new(key, jti.encode(), hashlib.sha256).hexdigest()


def csrf_valid(key: bytes, jti: str, presented: str | None) -> bool:
    """Whether a form's token is this session's (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(csrf_token(key, jti), presented or "")


def same_origin(origin: str | None, host: str | None) -> bool:
    """A form posted from this site: the browser's `Origin` names the host the request went to
    (a browser that sends none predates the check; SameSite and the CSRF token guard it)."""
    if origin is None:
        return True
    if origin == "null" or host is None:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()
