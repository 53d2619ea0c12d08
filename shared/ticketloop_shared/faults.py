"""Telling a dependency outage from a bad request or a bad event.

A transient fault (the database or broker is down, restarting or unreachable) heals by itself:
requests get 503 with `Retry-After`, consumers pause and retry for as long as it takes. Anything
else is the request's or the event's own fault.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes that mean "the server cannot serve now", not "your statement is wrong":
# 08 connection exception, 53 insufficient resources, 57P admin shutdown / cannot connect now.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "40001", "40P01")

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    OSError,
    PoolTimeout,
    DisconnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    # The protocol's own state errors: "cannot switch to state N; another operation is in progress"
    # when the server dies under a query, and the connection's type caches going stale with it.
    asyncpg.exceptions.InternalClientError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a dependency is unavailable, not that the input is bad."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, InterfaceError):
            return True
        if isinstance(current, _TRANSIENT_TYPES):
            return True
        state = getattr(current, "sqlstate", None) or getattr(getattr(current, "orig", None), "sqlstate", None)
        if isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
            return True
        current = current.__cause__ or current.__context__
    return False
