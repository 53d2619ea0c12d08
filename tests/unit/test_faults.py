"""A dependency outage is a 503 with `Retry-After` from every service, whatever shape asyncpg and
SQLAlchemy give it; anything else stays a logged 500."""

from __future__ import annotations

import importlib

import asyncpg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError

from ticketloop_embedded.services import SERVICES


def wrapped(error_type: type[DBAPIError], orig: BaseException) -> DBAPIError:
    """What SQLAlchemy raises around a driver error: the driver's error as both `orig` and cause."""
    try:
        raise error_type("INSERT INTO tickets ...", {}, orig) from orig
    except DBAPIError as exc:
        return exc


STATE = "cannot switch to state 12; another operation (2) is in progress"
OUTAGES: list[BaseException] = [
    asyncpg.exceptions.InternalClientError(STATE),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.InterfaceError("connection is closed"),
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    wrapped(InternalError, asyncpg.exceptions.InternalClientError(STATE)),
    wrapped(InterfaceError, asyncpg.exceptions.InterfaceError("connection is closed")),
    wrapped(DBAPIError, asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
    wrapped(OperationalError, ConnectionRefusedError(111, "Connect call failed")),
]


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: f"{type(e).__module__}.{type(e).__name__}")
def test_a_database_outage_in_flight_is_a_503_with_retry_after(name: str, error: BaseException) -> None:
    app = importlib.import_module(f"ticketloop_{name}.app").create_app()

    async def in_flight() -> None:
        raise error

    app.add_api_route("/test/in-flight", in_flight, methods=["POST"])
    response = TestClient(app).post("/test/in-flight", json={})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert response.json()["error"]["code"] == "dependency_unavailable"


@pytest.mark.parametrize("error", [RuntimeError("a bug"), ValueError("a bug"), KeyError("a bug")])
def test_a_bug_is_still_a_500(error: BaseException) -> None:
    app = importlib.import_module("ticketloop_sla.app").create_app()

    async def broken() -> None:
        raise error

    app.add_api_route("/test/broken", broken, methods=["GET"])
    response = TestClient(app).get("/test/broken")
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
