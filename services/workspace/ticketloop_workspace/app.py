"""workspace's application factory: pages, fragments, static files, health and metrics; the
shared clients of the services behind it live as long as the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from ticketloop_shared.api import Metrics
from ticketloop_shared.metrics import scrape_allowed
from ticketloop_shared.proxies import ClientAddress
from ticketloop_workspace import pages
from ticketloop_workspace.domain import HOME, PAGE_HEADERS, STATIC, csrf_key
from ticketloop_workspace.endpoints import FormRefused, FormTooLarge, error_page, router
from ticketloop_workspace.notifications import STATE_KEY, LiveNotifications, events_router
from ticketloop_workspace.session import NotSignedIn, signed_in, signed_in_principal, to_login
from ticketloop_workspace.settings import WorkspaceSettings
from ticketloop_workspace.upstream import Refused, SignedOut, Unavailable, Upstreams

log = logging.getLogger(__name__)


def _session_or_none(request: Request) -> Any:
    try:
        return signed_in(request)
    except NotSignedIn:
        return None


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.url.path.startswith(f"{HOME}/events"):
            return JSONResponse({"error": {"code": "not_signed_in", "message": "sign in first"}}, status_code=401)
        return to_login(request, exc.reason)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, exc: SignedOut) -> Response:
        # The person's token no longer works with the services (expired, revoked): sign them out.
        return to_login(request, "session_ended")

    @app.exception_handler(FormRefused)
    async def form_refused(request: Request, exc: FormRefused) -> Response:
        too_large = isinstance(exc, FormTooLarge)
        status, code = (413, "form_too_large") if too_large else (403, "csrf_failed")
        refusal = Refused("workspace", status, code, str(exc))
        return error_page(_session_or_none(request), refusal, back=HOME)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        return error_page(_session_or_none(request), exc)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return error_page(_session_or_none(request), exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> Response:
        refusal = Refused(
            "workspace", exc.status_code, "not_found" if exc.status_code == 404 else "http_error", str(exc.detail)
        )
        return error_page(_session_or_none(request), refusal)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        problem = Unavailable("workspace", "something went wrong on our side")
        return error_page(_session_or_none(request), problem)


def create_app(settings: WorkspaceSettings | None = None, *, transport: Any = None, with_live: bool = True) -> FastAPI:
    """Build the workspace; the service clients open, and the live notifications start tailing the
    topics, when the app starts (`with_live=False`: pages only, for tests that need no broker)."""
    settings = settings or WorkspaceSettings()
    notifications = LiveNotifications(settings.platform, settings) if with_live else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.upstreams = Upstreams(
            settings.upstream_urls(),
            timeout=settings.upstream_timeout_seconds,
            max_connections=settings.upstream_max_connections,
            transport=transport,
        )
        if notifications is not None:
            notifications.start()
        try:
            yield
        finally:
            if notifications is not None:
                await notifications.stop()
            await app.state.upstreams.aclose()

    app = FastAPI(
        title="ticketloop workspace",
        description="The staff's web application at `/workspace`, built on the other services' public APIs.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    setattr(app.state, STATE_KEY, notifications)
    app.state.csrf_key = csrf_key(settings.platform.signing_secret)
    app.add_middleware(Metrics, service="workspace")
    app.add_middleware(ClientAddress, proxies=settings.platform.proxies)
    _install_handlers(app)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> Response:
        """Ready once the live notifications have read the topics (pages need nothing: the
        workspace keeps no state, and each page says when a service is down)."""
        problems = notifications.problems() if notifications is not None else {}
        return JSONResponse(
            {"status": "ok" if not problems else "unavailable", "problems": problems},
            status_code=200 if not problems else 503,
        )

    @app.get("/metrics", include_in_schema=False, response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (with `TICKETLOOP_METRICS_TOKEN` set: for that bearer token only)."""
        if not scrape_allowed(settings.platform.metrics_token, request.headers.get("authorization")):
            return JSONResponse(
                {"error": {"code": "metrics_token_required", "message": "metrics need the metrics bearer token"}},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """No icon: an empty answer rather than a 404 in every browser console."""
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """The workspace lives under /workspace."""
        return RedirectResponse(HOME, status_code=303, headers=PAGE_HEADERS)

    app.include_router(router)
    if notifications is not None:
        app.include_router(events_router(signed_in_principal))
    static = resources.files("ticketloop_workspace").joinpath("static")
    app.mount(STATIC, StaticFiles(directory=str(static)), name="static")
    _ = pages  # templates are loaded on first use
    return app
