"""The FastAPI frame every service shares: lifespan around the runtime, one error format,
a body-size limit, health/readiness, metrics, and the per-request unit of work."""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, overload

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketloop_shared import errors, tracing
from ticketloop_shared.clock import Clock
from ticketloop_shared.errors import DomainError
from ticketloop_shared.guards import (
    CatchUnexpected,
    InputGuard,
    allowed_methods,
    document_errors,
    storable_body,
    unexpected_response,
)
from ticketloop_shared.logging import configure_logging
from ticketloop_shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, scrape_allowed
from ticketloop_shared.proxies import ClientAddress
from ticketloop_shared.ratelimit import RateLimits
from ticketloop_shared.runtime import Runtime, ServiceSpec
from ticketloop_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the whole API (defined with its OpenAPI model in `errors`)."""
    return errors.error_body(code, message, details)


class BodyLimit:
    """Reject bodies over the limit with 413 before they are read into memory; the few routes
    that take files (`larger`: path pattern → bytes) have a limit of their own."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(pattern), limit) for pattern, limit in (larger or {}).items()]

    def _limit(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope["path"]) if self.larger else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._reject(send, max_bytes)
            return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    too_big = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send, max_bytes)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        response = JSONResponse(
            error_body("body_too_large", f"request body exceeds {max_bytes} bytes"), status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


_HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed"}
_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def _unreadable_body(exc: StarletteHTTPException) -> JSONResponse | None:
    """FastAPI turns any failure to read a body into a bare 400; say which failure it was."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, _TooLarge):  # a chunked body over the limit, caught by FastAPI's body reader
        return JSONResponse(error_body("body_too_large", "request body is too large"), status_code=413)
    if isinstance(cause, UnicodeError):
        return JSONResponse(error_body("bad_encoding", "request body must be UTF-8 encoded JSON"), status_code=400)
    return JSONResponse(error_body("malformed_json", f"request body is not valid JSON: {cause}"), status_code=400)


def _body_problem(problems: Sequence[Any]) -> JSONResponse | None:
    """A body that is not JSON, or not a JSON object, is a 400 or 415 rather than a field-level 422."""
    for problem in problems:
        loc = tuple(problem.get("loc", ()))
        if problem.get("type") == "json_invalid":
            reason = (problem.get("ctx") or {}).get("error", "JSON decode error")
            details = [{"loc": list(loc), "msg": str(reason)}]
            return JSONResponse(error_body("malformed_json", "request body is not valid JSON", details), 400)
        if loc == ("body",) and problem.get("type") in _NOT_AN_OBJECT:
            if isinstance(problem.get("input"), bytes | bytearray):
                message = "request body must be sent with Content-Type: application/json"
                return JSONResponse(error_body("unsupported_media_type", message), status_code=415)
            return JSONResponse(error_body("body_not_object", "request body must be a JSON object"), 400)
    return None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_body(exc)
        if unreadable is not None:
            return unreadable
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope["path"]))
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        body_problem = _body_problem(problems)
        if body_problem is not None:
            return body_problem
        details = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in problems]
        message = "request did not validate"
        if details:
            first = details[0]
            message += f": {'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
            if len(details) > 1:
                message += f" (and {len(details) - 1} more)"
        return JSONResponse(error_body("validation_error", message, details), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Only what an outer middleware raises gets here; CatchUnexpected answers the rest.
        return unexpected_response(exc)

    # Innermost first: these sit inside the metrics and body-limit middleware added after them.
    app.add_middleware(CatchUnexpected)
    app.add_middleware(InputGuard)


class Metrics:
    """Count and time requests per route template (a pure ASGI middleware: Starlette's
    `BaseHTTPMiddleware` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            key = (scope["method"], path, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    HTTP_REQUESTS.labels(self.service, scope["method"], path, status),
                    HTTP_LATENCY.labels(self.service, scope["method"], path),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


class Readiness(BaseModel):
    """Whether the service can do its work, and if not, why."""

    status: Literal["ok", "unavailable"]
    problems: dict[str, str]


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: `problems` says what is missing"}},
    )
    async def ready(request: Request) -> JSONResponse:
        """The database answers, Kafka is connected and background work is running."""
        runtime: Runtime[Any] = request.app.state.runtime
        problems = await runtime.ready()
        status = 200 if not problems else 503
        return JSONResponse({"status": "ok" if not problems else "unavailable", "problems": problems}, status)

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (with `TICKETLOOP_METRICS_TOKEN` set: for that bearer token only)."""
        if not scrape_allowed(request.app.state.settings.platform.metrics_token, request.headers.get("authorization")):
            raise errors.Unauthorized(
                "metrics need Authorization: Bearer <the metrics token>", code="metrics_token_required"
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_service_app(
    spec: ServiceSpec[Any],
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    clock: Clock | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """Build a service's app; the runtime is created and started in the lifespan, not here.
    `body_limits` gives the routes that take files (path pattern → bytes) a larger body limit.

    Tracing is set up here, not in the lifespan: its middleware must be in place before the app
    first runs (the provider is installed once per process, from `OTEL_*`)."""
    platform = spec.settings.platform
    tracing.setup(spec.name, replica=spec.settings.replica)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            spec.name, replica=spec.settings.replica, level=platform.log_level, json_lines=platform.log_json
        )
        runtime = Runtime(spec, clock=clock)
        app.state.runtime = runtime
        app.state.revocations = runtime.revocations
        await runtime.start()
        log.info("service started", extra={"port": spec.settings.http_port, "tracing": tracing.active()})
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(storable_body)],  # before any route's own: no body string escapes it
    )
    app.state.auth_secret = platform.signing_secret
    app.state.token_max_ttl_seconds = platform.token_max_ttl_seconds
    app.state.rate_limits = RateLimits(platform)
    app.state.settings = spec.settings
    _install_error_handlers(app)
    app.add_middleware(Metrics, service=spec.name)
    app.add_middleware(BodyLimit, max_bytes=platform.max_body_bytes, larger=body_limits)
    app.include_router(_ops_router())
    for router in routers:
        app.include_router(router)
    document_errors(app, skip=("/health/live", "/health/ready", "/metrics"))
    tracing.instrument_app(app, spec.name)
    # Outermost: the metrics, traces, logs and limits inside all see the client a trusted proxy names.
    app.add_middleware(ClientAddress, proxies=platform.proxies)
    return app


# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per dependency per request (measured: 4 % of
# intake's event loop under a POST burst, for two trivial ones).


async def get_runtime(request: Request) -> Runtime[Any]:
    """Dependency: the running service's resources."""
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> Any:
    """Dependency: the service's settings. Each service types it once, in its `unit.py`:
    `SettingsDep = Annotated[RoutingSettings, Depends(get_settings)]`."""
    return request.app.state.settings


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork[Any]]:
    """Dependency: the request's unit of work.

    Used with `scope="function"`, so the commit happens before the response is sent: a client
    never sees a success for a change that then failed to commit.
    """
    runtime: Runtime[Any] = request.app.state.runtime
    async with runtime.unit_of_work() as uow:
        yield uow


async def get_session(uow: Annotated[UnitOfWork[Any], Depends(get_uow, scope="function")]) -> AsyncSession:
    """Dependency: the session of the request's unit of work (for reads and lookups)."""
    return uow.session


RuntimeDep = Annotated[Runtime[Any], Depends(get_runtime)]
UowDep = Annotated[UnitOfWork[Any], Depends(get_uow, scope="function")]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# An optimistic-concurrency write names the version it read: `If-Match: "<version>"`.
IfMatch = Annotated[str | None, Header(description='The version read, as `"<version>"`')]
# Versions are INTEGER columns: a longer number can match none (and would overflow a comparison).
_VERSION_DIGITS = 9


def etag(version: int | None) -> str | None:
    """A version as the strong entity tag a read sends in `ETag` (and a 412 in `current_etag`);
    None for a resource that does not exist."""
    return None if version is None else f'"{version}"'


@overload
def if_match_version(if_match: str) -> int: ...
@overload
def if_match_version(if_match: None) -> None: ...
@overload
def if_match_version(if_match: str | None) -> int | None: ...


def if_match_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header names (weak or strong, quoted or not); None without one.
    Anything else is a 422 `invalid_if_match`, not a guess."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > _VERSION_DIGITS:
        raise errors.Unprocessable('If-Match must be a version as "<number>"', code="invalid_if_match")
    return int(value)


async def require_if_match(if_match: IfMatch = None) -> str:
    """Dependency: the `If-Match` a change of a versioned resource must send, or 428
    `if_match_required`. Declared after the credentials in a route's signature, it answers
    before the body is validated or the resource looked up, so a change without it is refused
    the same way whatever else is wrong with it."""
    if if_match is None:
        raise errors.PreconditionRequired(
            "send If-Match with the ETag you read, so a change cannot silently undo another"
        )
    return if_match


# A change that must name the version it replaces (the `ETag` of the resource as read).
IfMatchRequired = Annotated[str, Depends(require_if_match)]


@dataclass(frozen=True)
class PutPrecondition:
    """What a create-or-replace `PUT` said it expects: to replace `version`, or (None) to create
    a resource that does not exist yet (`If-None-Match: *`)."""

    version: int | None


async def require_put_precondition(
    if_match: IfMatch = None,
    if_none_match: Annotated[str | None, Header(description="`*` to create a resource that must not exist yet")] = None,
) -> PutPrecondition:
    """Dependency: a `PUT` that may create says which it means, `If-None-Match: *` (create) or
    `If-Match: "<version>"` (replace what was read); neither is 428 `if_match_required`, so a
    replace can never silently undo another change."""
    if if_match is not None:
        return PutPrecondition(version=if_match_version(if_match))
    if if_none_match is None:
        raise errors.PreconditionRequired(
            "send If-Match with the ETag you read to replace, or If-None-Match: * to create"
        )
    if if_none_match.strip() != "*":
        raise errors.Unprocessable("If-None-Match must be *", code="invalid_if_none_match")
    return PutPrecondition(version=None)


PutPreconditionDep = Annotated[PutPrecondition, Depends(require_put_precondition)]


def check_version(
    current: int | None, expected: int | None, *, what: str, error: type[errors.PreconditionFailed]
) -> None:
    """`error` (412) unless `what` is at the version the caller named: `expected` None means the
    caller creates it (`If-None-Match: *`), so it must not exist yet; `current` None: it does not."""
    if expected is None and current is not None:
        raise error(
            f"{what} exists (version {current}): send If-Match to replace it",
            details={"version": current, "current_etag": etag(current)},
        )
    if expected is not None and current != expected:
        raise error(
            f"{what} is at version {current}, not {expected}",
            details={"version": current, "current_etag": etag(current)},
        )


def csv_response(rows: Sequence[tuple[Any, ...]], filename: str) -> Response:
    """`rows` (header first) as a CSV download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
