"""Staff authentication: HMAC-signed bearer tokens that every service verifies with the shared
secret, so no service needs to call another to know who is asking.

The tokens are standard JWTs (RFC 7519, HS256 only, through PyJWT) rather than a format of our
own: any JWT tool can read one, and the parsing that is easy to get wrong (`alg: none`, an
algorithm swapped in the header, padding) is a maintained library's. Verification pins HS256,
then checks expiry and the longest lifetime itself against an injectable `now`, so tests and
tools keep one clock.

Every token expires (`exp`), and carries an id (`jti`) and its issue time (`iat`) so an admin
can revoke one token or all of a member's tokens: routing emits `staff.token_revoked`, every
service keeps the list in its own database and refuses such tokens with 401 `token_revoked`.

Channel API keys are different: they are registered clients owned by intake.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Protocol

import jwt
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from ticketloop_shared.errors import Forbidden, Unauthorized
from ticketloop_shared.ratelimit import presented_key, rate_limits
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.validation import STORABLE

ALGORITHM = "HS256"
# PyJWT's own time checks are off: expiry is checked below against the caller's `now`, and a
# token's `iat` may be ahead of a verifier's clock by a little (revocation compares it, nothing
# else does). The signature and the pinned algorithm are always checked.
_DECODE_OPTIONS: jwt.types.Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


class Role(StrEnum):
    """What a staff member may do: an agent works its department's tickets (acting only on the
    ones it owns), a supervisor any ticket of its department, an admin everything."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # A delivery system (mailer, SMS gateway): fetches survey links to send; sees nothing else.
    NOTIFIER = "notifier"


class Principal(BaseModel):
    """The verified caller of a staff endpoint (its id must fit where it is stored: a longer or
    unstorable `sub` makes the token invalid, a 401, never a failed insert)."""

    sub: Annotated[str, Field(min_length=1, max_length=100), STORABLE]
    role: Role
    name: Annotated[str, Field(max_length=200), STORABLE] = ""
    # The department an agent or supervisor works in (routing's organisation ids).
    department: Annotated[str, Field(min_length=1, max_length=100), STORABLE] | None = None
    jti: Annotated[str, Field(min_length=1, max_length=64)]
    iat: int
    exp: int


class RevocationList(Protocol):
    """What token verification asks of the revoked-token list a service keeps."""

    def is_revoked(self, principal: Principal) -> bool:
        """The token was revoked (by its id, or with all of its subject's earlier tokens)."""
        ...


DEPARTMENT_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})


def issue_token(
    secret: str,
    *,
    sub: str,
    role: Role,
    ttl_seconds: int,
    name: str = "",
    department: str | None = None,
    now: float | None = None,
) -> str:
    """A bearer token for `sub` with `role` (and the department an agent or supervisor works in),
    valid for `ttl_seconds`."""
    if ttl_seconds <= 0:
        raise ValueError("a token's lifetime must be positive")
    if role in DEPARTMENT_ROLES and not department:
        raise ValueError(f"a {role.value} token needs the department the {role.value} works in")
    iat = int(now if now is not None else time.time())
    principal = Principal(
        sub=sub,
        role=role,
        name=name,
        department=department if role in DEPARTMENT_ROLES else None,
        jti=uuid.uuid4().hex,
        iat=iat,
        exp=iat + ttl_seconds,
    )
    return jwt.encode(principal.model_dump(mode="json"), secret, algorithm=ALGORITHM)


def token_for(
    platform: PlatformSettings,
    *,
    sub: str,
    role: Role,
    name: str = "",
    department: str | None = None,
    ttl_seconds: int | None = None,
) -> str:
    """A token signed with this install's secret, for the default lifetime unless told."""
    ttl = ttl_seconds or platform.token_ttl_seconds
    if ttl > platform.token_max_ttl_seconds:
        raise ValueError(f"a token may live at most {platform.token_max_ttl_seconds} s (TICKETLOOP_TOKEN_MAX_TTL_DAYS)")
    return issue_token(platform.signing_secret, sub=sub, role=role, name=name, department=department, ttl_seconds=ttl)


def verify_token(secret: str, token: str, *, max_ttl_seconds: int, now: float | None = None) -> Principal:
    """The principal inside a token, or `Unauthorized` with the precise reason."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("bearer token signature does not verify", code="invalid_token") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise Unauthorized(f"bearer token must be signed with {ALGORITHM}", code="invalid_token") from exc
    except jwt.DecodeError as exc:
        raise Unauthorized("malformed bearer token", code="invalid_token") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("bearer token payload is invalid", code="invalid_token") from exc
    if not isinstance(claims, dict) or "exp" not in claims or "jti" not in claims:
        raise Unauthorized("bearer token has no expiry or id; issue a new one", code="invalid_token")
    try:
        principal = Principal.model_validate(claims)
    except ValidationError as exc:
        raise Unauthorized("bearer token payload is invalid", code="invalid_token") from exc
    if principal.exp - principal.iat > max_ttl_seconds:
        raise Unauthorized("bearer token lifetime exceeds the allowed maximum", code="invalid_token")
    if principal.exp < (now if now is not None else time.time()):
        raise Unauthorized("bearer token has expired", code="token_expired")
    return principal


_bearer = HTTPBearer(
    auto_error=False,
    description="A staff or notifier token: `ticketloop token --role agent|supervisor|admin|notifier`",
)


async def bearer_principal(
    request: Request, response: Response, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Dependency: the verified staff caller, within its token's rate limit (`principal_of`)."""
    return principal_of(request, response, credentials)


def principal_of(request: Request, response: Response, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The verified staff caller, within its token's rate limit. A refused token
    counts against the caller's address and the subject it claims; past either limit the
    refusal is a 429. A valid token is always accepted, whoever else failed from its address."""
    limits = rate_limits(request)
    if limits is None:
        return _verified(request, credentials)
    try:
        principal = _verified(request, credentials)
    except Unauthorized:
        limits.failed_credentials(request, _presented(credentials))
        raise
    limits.spend("staff", principal.jti, response)
    return principal


def _presented(credentials: HTTPAuthorizationCredentials | None) -> str:
    """What a refused token is counted against: the subject it claims (unverified: forging one
    only spends the failures of that subject, never its owner's valid tokens), else the token."""
    if credentials is None:
        return presented_key("token", "")
    token = credentials.credentials.strip()
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return presented_key("token", token)
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return presented_key("subject", sub) if isinstance(sub, str) else presented_key("token", token)


def _verified(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Authorization header must be 'Bearer <token>'", code="invalid_token")
        raise Unauthorized("missing Authorization: Bearer <token> header", code="missing_credentials")
    secret: str = request.app.state.auth_secret
    principal = verify_token(
        secret, credentials.credentials.strip(), max_ttl_seconds=request.app.state.token_max_ttl_seconds
    )
    revocations: RevocationList | None = getattr(request.app.state, "revocations", None)
    if revocations is not None and revocations.is_revoked(principal):
        raise Unauthorized("bearer token has been revoked", code="token_revoked")
    return principal


async def require_staff(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be staff (`staff_only`)."""
    return staff_only(principal)


def staff_only(principal: Principal) -> Principal:
    """The caller must be an agent, a supervisor or an administrator (a notifier is
    not staff). An agent's or supervisor's token must name its department: every read of theirs
    is limited to it, and a token without one (hand-made, or from before departments) would
    otherwise have nothing to limit it by."""
    if principal.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("this endpoint needs an agent, supervisor or admin token", code="staff_required")
    if principal.role in DEPARTMENT_ROLES and not principal.department:
        raise Forbidden(
            f"a {principal.role.value} token must name the department it works in; issue a new one",
            code="department_required",
        )
    return principal


def department_scope(staff: Principal, requested: str | None = None) -> str | None:
    """The department a staff list is limited to: whatever an admin asks for (`None`: every
    department); an agent's or supervisor's own, whatever it asks for (asking for another one is
    a 403 `not_your_department`, not an empty page, so a mistake is not mistaken for "nothing")."""
    if staff.role is Role.ADMIN:
        return requested
    if requested is not None and requested != staff.department:
        raise Forbidden("you may list only your own department's records", code="not_your_department")
    return staff.department


def check_department(
    staff: Principal, department_id: str | None, *, what: str = "ticket", unowned: str = "ticket_not_routed"
) -> None:
    """Raise 403 unless `staff` may read a record of `department_id`: an admin reads every one;
    an agent or supervisor only its own department's. A record whose department is not known
    yet (routing has not placed the ticket, or this service has not heard of it) is an admin's
    only (code `unowned`: `ticket_not_routed`, as intake says, for a ticket)."""
    if staff.role is Role.ADMIN:
        return
    if department_id is None:
        raise Forbidden(f"the {what} belongs to no department yet; only an admin may read it now", code=unowned)
    if department_id != staff.department:
        raise Forbidden(
            f"the {what} belongs to department {department_id!r}, not yours",
            code="not_your_department",
            details={"department_id": department_id},
        )


async def require_admin(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be an administrator."""
    if principal.role != Role.ADMIN:
        raise Forbidden("this endpoint needs an admin token", code="admin_required")
    return principal


async def require_notifier(principal: Annotated[Principal, Depends(bearer_principal)]) -> Principal:
    """Dependency: the caller must be a delivery system (role `notifier`)."""
    if principal.role != Role.NOTIFIER:
        raise Forbidden("this endpoint needs a notifier token", code="notifier_required")
    return principal


CurrentStaff = Annotated[Principal, Depends(require_staff)]
CurrentAdmin = Annotated[Principal, Depends(require_admin)]
CurrentNotifier = Annotated[Principal, Depends(require_notifier)]
