"""The command line every service shares: `serve` (default) and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from ticketloop_shared import migrations
from ticketloop_shared.db import ensure_database
from ticketloop_shared.settings import ServiceSettings


def service_main(
    settings_cls: type[ServiceSettings],
    create_app: Callable[..., FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> None:
    """Parse the command line and serve or migrate."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings: Any = settings_cls()
    if args.command == "migrate":
        asyncio.run(ensure_database(settings.database_url))
        migrations.upgrade(migrations_dir, settings.database_url)
        return
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
