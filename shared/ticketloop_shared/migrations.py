"""Alembic glue shared by every service: each service's `env.py` calls `run_env`, and services
call `upgrade` at start. Concurrent replicas serialise on an advisory lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATION_LOCK_KEY = 0x6D696772617465  # "migrate"


def alembic_config(script_location: Path, url: str) -> Config:
    """A config for one service's migrations against one database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, url: str) -> None:
    """Migrate the database to head (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(script_location, url), "head")


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's `env.py`."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set for alembic")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata))


async def _run_online(url: str, target_metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))

            def migrate(sync_conn: Connection) -> None:
                context.configure(connection=sync_conn, target_metadata=target_metadata, compare_type=True)
                with context.begin_transaction():
                    context.run_migrations()

            await conn.run_sync(migrate)
            await conn.commit()
    finally:
        await engine.dispose()
