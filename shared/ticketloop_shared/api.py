"""The FastAPI frame every service shares: lifespan around the runtime, one error format,
a body-size limit, health/readiness, metrics, and the per-request unit of work."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketloop_shared.clock import Clock
from ticketloop_shared.errors import DomainError
from ticketloop_shared.logging import configure_logging
from ticketloop_shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from ticketloop_shared.runtime import Runtime, ServiceSpec

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the whole API."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


class BodyLimit:
    """Reject bodies over the limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        response = JSONResponse(
            error_body("body_too_large", f"request body exceeds {self.max_bytes} bytes"), status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


_HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse(error_body("validation_error", "request did not validate", details), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(error_body("internal_error", "unexpected server error"), status_code=500)


def _install_metrics(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, path, response.status_code).inc()
        HTTP_LATENCY.labels(service, request.method, path).observe(time.perf_counter() - start)
        return response


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready(request: Request) -> JSONResponse:
        """The database answers, Kafka is connected and background work is running."""
        runtime: Runtime = request.app.state.runtime
        problems = await runtime.ready()
        status = 200 if not problems else 503
        return JSONResponse({"status": "ok" if not problems else "unavailable", "problems": problems}, status)

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_service_app(
    spec: ServiceSpec,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    clock: Clock | None = None,
) -> FastAPI:
    """Build a service's app; the runtime is created and started in the lifespan, not here."""
    platform = spec.settings.platform

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, level=platform.log_level, json_lines=platform.log_json)
        runtime = Runtime(spec, clock=clock)
        app.state.runtime = runtime
        await runtime.start()
        log.info("service started", extra={"port": spec.settings.http_port})
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.auth_secret = platform.auth_secret.get_secret_value()
    app.state.settings = spec.settings
    _install_error_handlers(app)
    _install_metrics(app, spec.name)
    app.add_middleware(BodyLimit, max_bytes=platform.max_body_bytes)
    app.include_router(_ops_router())
    for router in routers:
        app.include_router(router)
    return app


def get_runtime(request: Request) -> Runtime:
    """Dependency: the running service's resources."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Dependency: the request's unit of work.

    Used with `scope="function"`, so the commit happens before the response is sent: a client
    never sees a success for a change that then failed to commit.
    """
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session, session.begin():
        yield session
    runtime.wake_relay()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
