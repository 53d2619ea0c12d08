"""Every bad input is a precise 4xx in the one error shape, over real HTTP to a real service: nothing
a client sends can make a 500, drop the connection, or put customer data in the logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.support import RunningService, admin_headers, channel_headers, create_ticket_body, serve
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.logging import JsonFormatter
from ticketloop_shared.settings import PlatformSettings

JSON = {"content-type": "application/json"}
PERSONAL = ("Jane Doe", "jane@example.com", "My card was charged twice")


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    json_logs = platform.model_copy(update={"log_json": True})  # as in production
    settings = IntakeSettings(database_url=await new_database("intake"), platform=json_logs)
    async with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
def service_log(intake: RunningService) -> Iterator[io.StringIO]:
    """Everything the service logs from now on, through the handler (and filters) it installed."""
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert isinstance(handler, logging.StreamHandler)
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield captured
    finally:
        handler.setStream(previous)


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body, after checking status, shape and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert body["error"]["code"] == code, body
    detail: dict[str, Any] = body["error"]
    return detail


def locations(detail: dict[str, Any]) -> list[list[Any]]:
    return [d["loc"] for d in detail["details"]]


async def post_raw(intake: RunningService, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return await intake.client.post("/v1/tickets", content=content, headers={**channel_headers(), **(headers or JSON)})


async def test_nul_byte_in_a_body_field_is_a_precise_422(intake: RunningService) -> None:
    body = create_ticket_body(description="charged\u0000twice")
    detail = error(
        await intake.client.post("/v1/tickets", json=body, headers=channel_headers()), 422, "validation_error"
    )
    assert locations(detail) == [["body", "description"]]
    assert "NUL bytes are not allowed" in detail["message"]
    nested = create_ticket_body(customer={"id": "c-1\u0000", "name": "Jane Doe"})
    detail = error(
        await intake.client.post("/v1/tickets", json=nested, headers=channel_headers()), 422, "validation_error"
    )
    assert locations(detail) == [["body", "customer", "id"]]


async def test_nul_byte_in_a_filter_or_the_path_is_a_precise_422(intake: RunningService) -> None:
    r = await intake.client.get("/v1/tickets", params={"customer_id": "c\u00001"}, headers=admin_headers())
    assert locations(error(r, 422, "validation_error")) == [["query", "customer_id"]]
    r = await intake.client.get("/v1/tickets/abc%00def", headers=admin_headers())
    assert locations(error(r, 422, "validation_error")) == [["path"]]


async def test_lone_surrogate_in_text_is_a_422(intake: RunningService) -> None:
    raw = json.dumps(create_ticket_body()).replace("Charged twice", "Charged \\ud800 twice").encode()
    assert locations(error(await post_raw(intake, raw), 422, "validation_error")) == [["body", "subject"]]


async def test_offset_beyond_any_page_is_a_422_not_an_overflow(intake: RunningService) -> None:
    for offset in (2**63, 2**31, 10_000_001, -1):
        r = await intake.client.get("/v1/tickets", params={"offset": offset}, headers=admin_headers())
        assert locations(error(r, 422, "validation_error")) == [["query", "offset"]]


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_non_finite_annual_spend_is_a_422(intake: RunningService, number: str) -> None:
    raw = json.dumps(create_ticket_body()).replace(
        '"name": "Jane Doe"', f'"name": "Jane Doe", "annual_spend": {number}'
    )
    assert number in raw
    detail = error(await post_raw(intake, raw.encode()), 422, "validation_error")
    assert locations(detail) == [["body", "customer", "annual_spend"]]


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1800-01-01T00:00:00Z", "9500-01-01T00:00:00Z"],
)
async def test_datetimes_that_overflow_or_make_no_sense_are_a_422(intake: RunningService, instant: str) -> None:
    body = create_ticket_body(expected_resolution_at=instant)
    r = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    assert locations(error(r, 422, "validation_error")) == [["body", "expected_resolution_at"]]


async def test_unreadable_bodies_are_a_documented_400_or_415(intake: RunningService) -> None:
    assert error(await post_raw(intake, b'{"channel": "web",'), 400, "malformed_json")["details"]
    error(await post_raw(intake, b"not json at all"), 400, "malformed_json")
    error(await post_raw(intake, b'{"channel": "w\xff\xfeb"}'), 400, "bad_encoding")
    error(await post_raw(intake, b"[1, 2]"), 400, "body_not_object")
    error(await post_raw(intake, b'"a string"'), 400, "body_not_object")
    plain = json.dumps(create_ticket_body()).encode()
    error(await post_raw(intake, plain, {"content-type": "text/plain"}), 415, "unsupported_media_type")
    spec = (await intake.client.get("/openapi.json")).json()
    documented = spec["paths"]["/v1/tickets"]["post"]["responses"]
    assert {"400", "413", "415", "422", "503"} <= set(documented)
    assert documented["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


async def test_options_and_wrong_methods_name_every_allowed_method(intake: RunningService) -> None:
    options = await intake.client.options("/v1/tickets")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, POST"
    wrong = await intake.client.delete("/v1/tickets")
    error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, OPTIONS, POST"
    assert (await intake.client.options("/v1/tickets/abc/resolve")).headers["allow"] == "OPTIONS, POST"
    error(await intake.client.options("/v1/nothing-here"), 404, "route_not_found")


async def test_the_connection_stays_open_after_errors(intake: RunningService) -> None:
    host, port = intake.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = channel_headers()["X-Api-Key"]

    def request(method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nContent-Type: application/json\r\n"
        return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    try:
        exchanges = [
            (request("POST", "/v1/tickets", b"{broken"), 400),
            (request("POST", "/v1/tickets", b'{"x": "\xff"}'), 400),
            (request("GET", "/v1/tickets?customer_id=%00"), 422),
            (request("DELETE", "/v1/tickets"), 405),
            (request("POST", "/v1/tickets", json.dumps(create_ticket_body()).encode()), 201),
        ]
        for raw, status in exchanges:
            writer.write(raw)
            await writer.drain()
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)).decode().lower()
            assert head.startswith(f"http/1.1 {status}"), head
            assert "connection: close" not in head
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            await reader.readexactly(length)
    finally:
        writer.close()


async def test_rejected_input_puts_no_customer_data_in_the_logs(
    intake: RunningService, service_log: io.StringIO
) -> None:
    body = create_ticket_body(description="My card was charged twice\u0000")
    error(await intake.client.post("/v1/tickets", json=body, headers=channel_headers()), 422, "validation_error")
    r = await intake.client.get("/v1/tickets", params={"customer_id": "Jane Doe\u0000"}, headers=admin_headers())
    error(r, 422, "validation_error")
    assert not any(p in service_log.getvalue() for p in PERSONAL)


async def test_a_failing_statement_logs_one_json_line_without_customer_data(
    intake: RunningService, service_log: io.StringIO
) -> None:
    # Break the table so the INSERT fails in PostgreSQL, which echoes the failing row in its DETAIL.
    async with intake.runtime.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE tickets ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    for _ in range(3):
        r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
        error(r, 500, "internal_error")
    lines = [json.loads(line) for line in service_log.getvalue().splitlines()]
    failures = [line for line in lines if line["msg"] == "unhandled error"]
    assert len(failures) == 1, lines  # the same failure three times is one line per interval
    assert "CheckViolation" in failures[0]["exc"] or "refuse_all" in failures[0]["exc"]
    assert not any(p in json.dumps(lines) for p in PERSONAL)
