"""The signed-in person: their staff token in the workspace's cookie, verified on every request.

The token is checked here for what needs no database (signature, algorithm, expiry, the longest
lifetime, a staff role); revocation is the services' to check, and they do on every call the page
makes with it: their 401 ends the session (`upstream.SignedOut`). Pages depend on `signed_in`
(the `Session`, with the CSRF token its forms carry); the live-updates router takes
`signed_in_principal`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from ticketloop_shared.auth import Principal, Role, verify_token
from ticketloop_shared.csrf import csrf_token
from ticketloop_shared.errors import Unauthorized
from ticketloop_workspace.domain import COOKIE, COOKIE_PATH, LOGIN, PAGE_HEADERS
from ticketloop_workspace.settings import WorkspaceSettings

STAFF_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


class NotSignedIn(Exception):
    """No valid staff token in the cookie: the page sends the person to the sign-in form."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "not signed in")
        self.reason = reason


@dataclass(frozen=True)
class Session:
    """Who is signed in, with the token the workspace calls the services with and the CSRF
    token every form of the session carries."""

    principal: Principal
    token: str
    csrf: str


def settings_of(request: Request) -> WorkspaceSettings:
    """The workspace's settings (built once, at app creation)."""
    settings: WorkspaceSettings = request.app.state.settings
    return settings


def verify_staff_token(settings: WorkspaceSettings, token: str) -> Principal:
    """The staff member a token belongs to (signature, expiry, lifetime), or `Unauthorized`; a
    notifier's token is refused with code `staff_required`."""
    principal = verify_token(
        settings.platform.signing_secret, token, max_ttl_seconds=settings.platform.token_max_ttl_seconds
    )
    if principal.role not in STAFF_ROLES:
        raise Unauthorized("a notifier token cannot sign in to the workspace", code="staff_required")
    return principal


def https(request: Request) -> bool:
    """The page was asked for over https (directly, or through a proxy that says so)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def signed_in(request: Request) -> Session:
    """Dependency: the signed-in person's session; `NotSignedIn` (→ the sign-in form) otherwise."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise NotSignedIn()
    settings = settings_of(request)
    try:
        principal = verify_staff_token(settings, token)
    except Unauthorized as exc:
        raise NotSignedIn(exc.code) from exc
    return Session(principal=principal, token=token, csrf=csrf_token(request.app.state.csrf_key, principal.jti))


async def signed_in_principal(request: Request) -> Principal:
    """Dependency for other routers (live updates): the verified `Principal` of the cookie;
    `NotSignedIn` otherwise (a page redirects to the sign-in form, an event stream gets 401)."""
    return signed_in(request).principal


async def signed_in_session(request: Request) -> Session:
    """Dependency: `signed_in`, on the event loop (a plain `def` dependency takes a thread hop)."""
    return signed_in(request)


SessionDep = Annotated[Session, Depends(signed_in_session)]


def forget(response: RedirectResponse, request: Request) -> None:
    """Drop the cookie (the token itself stays valid until it expires or is revoked)."""
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=https(request), httponly=True, samesite="strict")


def to_login(request: Request, reason: str | None = None) -> RedirectResponse:
    """303 to the sign-in form, coming back here afterwards; a stale cookie is dropped."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.url.path.startswith("/workspace/fragments"):
        here = "/workspace"
    target = f"{LOGIN}?next={quote(here, safe='')}"
    if reason:
        target += f"&reason={quote(reason, safe='')}"
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    if COOKIE in request.cookies:
        forget(response, request)
    return response
