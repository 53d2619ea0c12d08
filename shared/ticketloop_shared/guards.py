"""The HTTP edge's last lines of defence, so every answer is a 4xx or a 503 in the one error shape:
text no column can hold (NUL, lone surrogates, non-characters) anywhere in the URL or a JSON body,
`OPTIONS`/`405` with an honest `Allow`, dependency outages, and an OpenAPI document that lists
every status a client can get."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticketloop_shared.errors import ErrorResponse, error_body
from ticketloop_shared.faults import is_transient
from ticketloop_shared.validation import text_problem, unstorable_strings

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def unexpected_response(exc: BaseException) -> JSONResponse:
    """503 with `Retry-After` when a dependency is down (it heals by itself), else a logged 500."""
    if is_transient(exc):
        log.warning("dependency unavailable, answering 503", exc_info=exc)
        return JSONResponse(
            error_body("dependency_unavailable", "a service this request needs is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "unexpected server error"), status_code=500)


class CatchUnexpected:
    """Answer an exception no handler took, instead of re-raising it: the server then neither logs it
    a second time (with its statement parameters) nor drops the client's keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        receive_error: BaseException | None = None

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def tracking_receive() -> Message:
            nonlocal receive_error
            try:
                return await receive()
            except BaseException as exc:
                receive_error = exc
                raise

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except Exception as exc:
            # What an outer middleware raised through `receive` (the body limit) is its to answer.
            if started or exc is receive_error:
                raise
            await unexpected_response(exc)(scope, receive, send)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at this path (the router's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        pattern = getattr(route, "path_regex", None)
        if route.methods and pattern is not None and pattern.match(path):
            methods |= route.methods
    return sorted(methods | {"OPTIONS"}) if methods else []


def _url_problems(scope: Scope) -> list[dict[str, Any]]:
    """What the URL carries that `text_problem` refuses, as validation-error details."""
    found: list[dict[str, Any]] = []
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    if b"%00" in raw_path or b"\x00" in raw_path:
        found.append({"loc": ["path"], "type": "nul_byte", "msg": "NUL bytes are not allowed"})
    else:
        problem = text_problem(scope["path"])
        if problem is not None:
            found.append({"loc": ["path"], "type": problem[0], "msg": problem[1]})
    query: bytes = scope.get("query_string", b"")
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            problem = text_problem(name) or text_problem(value)
            if problem is not None:
                loc = ["query", name] if text_problem(name) is None else ["query"]
                found.append({"loc": loc, "type": problem[0], "msg": problem[1]})
    return found


class InputGuard:
    """Refuse text no column can hold anywhere in the URL with a precise 422, and answer `OPTIONS`
    with `Allow`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        details = _url_problems(scope)
        if details:
            message = f"request did not validate: {details[0]['msg']} in the URL"
            response: Response = JSONResponse(error_body("validation_error", message, details), status_code=422)
            await response(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            app = scope.get("app")
            methods = allowed_methods(app, scope["path"]) if isinstance(app, FastAPI) else []
            if methods:
                await Response(status_code=204, headers={"Allow": ", ".join(methods)})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this type as JSON (no type at all counts)."""
    if not content_type:
        return True
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def storable_body(request: Request) -> None:
    """Dependency of every route of every service (`create_service_app`): the one guard that no
    string in a JSON body, at any depth and in any field a schema forgot, is text no column can hold.

    FastAPI has parsed the body before any dependency runs and `Request.json` keeps what it parsed,
    so this walks the same objects the models will validate; an unreadable body is left to FastAPI's
    own 400.
    """
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return  # a route that takes no model reads its body its own way, if at all
    if not _is_json(request.headers.get("content-type")) or not await request.body():
        return
    try:
        body = await request.json()
    except ValueError:
        return
    problems = [
        {"type": kind, "loc": ("body", *loc), "msg": message, "input": None}
        for loc, kind, message in unstorable_strings(body)
    ]
    if problems:
        raise RequestValidationError(problems)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_DESCRIPTIONS = {
    400: "The body is not readable: `malformed_json`, `bad_encoding` (not UTF-8) or `body_not_object`",
    401: "Missing or invalid credentials",
    403: "The credentials do not allow this",
    404: "Not found",
    413: "Body too large (`body_too_large`)",
    415: "The body must be sent as `application/json` (`unsupported_media_type`)",
    422: "Validation error (`validation_error`, with the failing fields in `details`)",
    429: "Rate limit exceeded (`rate_limited`: per channel client, per staff token, or too many failed "
    "credentials from this address); retry after `Retry-After`",
    503: "A dependency (database or broker) is unavailable (`dependency_unavailable`); retry after `Retry-After`",
}


def _statuses(path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer, from what it declares."""
    statuses = [503]
    has_params = bool(operation.get("parameters")) or "requestBody" in operation
    if has_params:
        statuses.append(422)
    if "requestBody" in operation:
        statuses += [400, 413, 415]
    if operation.get("security"):
        statuses += [401, 403, 429]
    if "{" in path:
        statuses.append(404)
    return statuses


def _error_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    """One documented error response: the endpoint's description if it gave one, the shared schema."""
    response = dict(existing or {})
    response.setdefault("description", _DESCRIPTIONS.get(status, "Error"))
    response["content"] = {"application/json": {"schema": _ERROR_REF}}
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    if status == 429:
        response["headers"]["RateLimit"] = {
            "description": 'The exhausted policy and when it resets: `"staff";r=0;t=12`',
            "schema": {"type": "string"},
        }
    return response


def document_errors(app: FastAPI, *, skip: Iterable[str] = ()) -> None:
    """Make the OpenAPI document list every error status each operation can answer, in the error shape.

    Runs once, over the document FastAPI generates, so no endpoint can forget a status; the paths in
    `skip` (health and metrics) keep what they declare themselves.
    """
    generate: Callable[[], dict[str, Any]] = app.openapi
    skipped = set(skip)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorResponse"] = error_schema
        for path, operations in schema.get("paths", {}).items():
            if path in skipped:
                continue
            for operation in operations.values():
                responses: dict[str, Any] = operation.setdefault("responses", {})
                declared = [int(code) for code in responses if code.isdigit() and int(code) >= 400]
                for status in sorted(set(_statuses(path, operation)) | set(declared)):
                    responses[str(status)] = _error_response(status, responses.get(str(status)))
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused in components and f"/{unused}" not in str(schema.get("paths")):
                del components[unused]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
