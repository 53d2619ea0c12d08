"""Staff authentication: HMAC-signed bearer tokens that every service verifies with the shared
secret, so no service needs to call another to know who is asking.

Channel API keys are different: they are registered clients owned by intake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from ticketloop_shared.errors import Forbidden, Unauthorized
from ticketloop_shared.validation import STORABLE

TOKEN_PREFIX = "tl1"


class Role(StrEnum):
    """What a staff member may do."""

    AGENT = "agent"
    ADMIN = "admin"
    # A delivery system (mailer, SMS gateway): fetches survey links to send; sees nothing else.
    NOTIFIER = "notifier"


class Principal(BaseModel):
    """The verified caller of a staff endpoint (its id must fit where it is stored: a longer or
    unstorable `sub` makes the token invalid, a 401, never a failed insert)."""

    sub: Annotated[str, Field(min_length=1, max_length=100), STORABLE]
    role: Role
    name: Annotated[str, Field(max_length=200), STORABLE] = ""
    exp: int | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{TOKEN_PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue_token(secret: str, *, sub: str, role: Role, name: str = "", ttl_seconds: int | None = None) -> str:
    """A bearer token for `sub` with `role`; without a ttl it does not expire."""
    exp = int(time.time()) + ttl_seconds if ttl_seconds else None
    payload = _b64(Principal(sub=sub, role=role, name=name, exp=exp).model_dump_json().encode())
    return f"{TOKEN_PREFIX}.{payload}.{_sign(secret, payload)}"


def verify_token(secret: str, token: str, *, now: float | None = None) -> Principal:
    """The principal inside a token, or `Unauthorized` with the precise reason."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise Unauthorized("malformed bearer token", code="invalid_token")
    _, payload, signature = parts
    if not hmac.compare_digest(signature, _sign(secret, payload)):
        raise Unauthorized("bearer token signature does not verify", code="invalid_token")
    try:
        principal = Principal.model_validate(json.loads(_unb64(payload)))
    except (ValueError, ValidationError) as exc:
        raise Unauthorized("bearer token payload is invalid", code="invalid_token") from exc
    if principal.exp is not None and principal.exp < (now if now is not None else time.time()):
        raise Unauthorized("bearer token has expired", code="token_expired")
    return principal


_bearer = HTTPBearer(auto_error=False, description="A staff token: `ticketloop token --role agent|admin`")


def bearer_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Dependency: the verified staff caller (the secret comes from the app's settings)."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Authorization header must be 'Bearer <token>'", code="invalid_token")
        raise Unauthorized("missing Authorization: Bearer <token> header", code="missing_credentials")
    secret: str = request.app.state.auth_secret
    return verify_token(secret, credentials.credentials.strip())


def require_staff(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be an agent or an administrator (a notifier is not staff)."""
    if principal.role not in (Role.AGENT, Role.ADMIN):
        raise Forbidden("this endpoint needs an agent or admin token", code="staff_required")
    return principal


def require_admin(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be an administrator."""
    if principal.role != Role.ADMIN:
        raise Forbidden("this endpoint needs an admin token", code="admin_required")
    return principal


def require_notifier(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be a delivery system (role `notifier`)."""
    if principal.role != Role.NOTIFIER:
        raise Forbidden("this endpoint needs a notifier token", code="notifier_required")
    return principal


CurrentStaff = Annotated[Principal, Depends(require_staff)]
CurrentAdmin = Annotated[Principal, Depends(require_admin)]
CurrentNotifier = Annotated[Principal, Depends(require_notifier)]
