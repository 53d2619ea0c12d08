"""Database plumbing: the metadata naming convention, engines, sessions, creating a database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ticketloop_shared.state import SESSION_KEY, ProcessState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A service's own metadata, with constraint names Alembic can diff reliably."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = False) -> AsyncEngine:
    """An asyncpg engine. No pre-ping by default: it costs a round trip per transaction, and a
    restarted PostgreSQL is handled anyway (the disconnect invalidates the pool, the request
    gets a 503 with Retry-After, a consumer waits and retries).

    Statement parameters are customer data: `hide_parameters` keeps them out of every error
    message. A connect timeout makes an unreachable server a prompt 503, not a minute's hang.
    """
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        hide_parameters=True,
        connect_args={"timeout": 10},
    )


def make_sessionmaker(engine: AsyncEngine, *, state: ProcessState | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after it),
    each carrying the runtime's per-process `state` (see `ticketloop_shared.state.state_of`)."""
    info = {SESSION_KEY: state} if state is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A plain transaction for work that emits no events (seeding, tests): commit on success,
    roll back on any error. Writes that emit events use the runtime's unit of work."""
    async with factory() as session, session.begin():
        yield session


async def _keep_session_state(_: asyncpg.Connection) -> None:
    """Nothing to reset: pooled statement connections never change session state. (asyncpg's
    default reset costs a round trip per release; an open transaction is still rolled back.)"""


async def make_statement_pool(url: str, *, size: int = 10) -> asyncpg.Pool:
    """A plain asyncpg pool for a hot write that is one statement, in autocommit: one round
    trip, no BEGIN/COMMIT, no ORM. Parameters are customer data; asyncpg never logs them."""
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=size, timeout=10, reset=_keep_session_state)
    assert pool is not None
    return pool


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain DSN for asyncpg (LISTEN connections, admin tasks)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> bool:
    """Create the URL's database if it is missing; True when it was created.

    Lets one PostgreSQL server host a database per service with no manual step.
    """
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ValueError(f"database URL has no database name: {parsed!r}")
    admin = asyncpg_dsn(parsed.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()
