"""The command line every service shares: `serve` (default), `migrate` and `token`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from ticketloop_shared import migrations
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.db import ensure_database
from ticketloop_shared.settings import ServiceSettings


def service_main(
    settings_cls: type[ServiceSettings],
    create_app: Callable[..., FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> None:
    """Parse the command line and serve, migrate, or issue a staff token."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "token"])
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value, help="for token")
    parser.add_argument("--sub", default="ops", help="for token: the staff member's id")
    parser.add_argument("--ttl", type=int, default=None, help="for token: seconds until it expires")
    args = parser.parse_args(argv)
    settings: Any = settings_cls()
    if args.command == "token":
        secret = settings.platform.auth_secret.get_secret_value()
        print(issue_token(secret, sub=args.sub, role=Role(args.role), ttl_seconds=args.ttl))  # noqa: T201
        return
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
