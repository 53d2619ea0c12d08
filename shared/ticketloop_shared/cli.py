"""The command line every service shares: `serve` (default), `migrate`, `token`, `dlq` and
`retention`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ticketloop_shared import migrations, serving
from ticketloop_shared.auth import Role, token_for
from ticketloop_shared.db import ensure_database
from ticketloop_shared.logging import uvicorn_log_config
from ticketloop_shared.proxies import UVICORN_PROXY_HEADERS
from ticketloop_shared.settings import ServiceSettings


def service_main(
    settings_cls: type[ServiceSettings],
    create_app: Callable[..., FastAPI],
    migrations_dir: Path,
    argv: list[str] | None = None,
    *,
    retention: Sequence[Any] = (),
) -> None:
    """Parse the command line and serve, migrate, issue a staff token, handle dead letters or
    apply the retention schedule (`retention`: the service's `DataClass`es)."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "token", "dlq", "retention"]
    )
    parser.add_argument("dlq_action", nargs="?", choices=["list", "show", "replay"], help="for dlq")
    parser.add_argument("dlq_id", nargs="?", type=int, help="for dlq show/replay: one letter's id")
    parser.add_argument("--type", default=None, help="for dlq: only this event type")
    parser.add_argument("--since", default=None, help="for dlq: only letters parked since (ISO time)")
    parser.add_argument("--all", action="store_true", help="for dlq list: include replayed letters")
    parser.add_argument(
        "--dry-run", action="store_true", help="for retention: only report what would be erased or deleted"
    )
    parser.add_argument("--json", action="store_true", help="for retention: the report as one JSON line")
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value, help="for token")
    parser.add_argument("--sub", default="ops", help="for token: the staff member's id")
    parser.add_argument(
        "--department", default=None, help="for token: the department an agent or supervisor works in (required)"
    )
    parser.add_argument(
        "--ttl", type=int, default=None, help="for token: seconds until it expires (default TICKETLOOP_TOKEN_TTL_HOURS)"
    )
    args = parser.parse_args(argv)
    settings: Any = settings_cls()
    if args.command == "token":
        try:
            token = token_for(
                settings.platform, sub=args.sub, role=Role(args.role), department=args.department, ttl_seconds=args.ttl
            )
        except ValueError as exc:
            parser.error(str(exc))
        print(token)  # noqa: T201
        return
    if args.command == "migrate":
        asyncio.run(ensure_database(settings.database_url))
        migrations.upgrade(migrations_dir, settings.database_url)
        return
    if args.command == "dlq":
        from ticketloop_shared.dlq_cli import run_dlq

        raise SystemExit(
            asyncio.run(
                run_dlq(
                    settings,
                    action=args.dlq_action or "list",
                    letter_id=args.dlq_id,
                    event_type=args.type,
                    since=args.since,
                    include_replayed=args.all,
                )
            )
        )
    if args.command == "retention":
        from ticketloop_shared.retention import run_cli

        service = create_app.__module__.split(".")[0].removeprefix("ticketloop_")
        raise SystemExit(
            asyncio.run(run_cli(settings, retention, service=service, dry_run=args.dry_run, as_json=args.json))
        )
    workers = settings.http_workers
    serving.run(
        # Several workers need an importable factory; each worker builds its app from the environment.
        f"{create_app.__module__}:{create_app.__name__}" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers,
        loop="uvloop",
        http="httptools",
        host=settings.http_host,
        port=settings.http_port,
        # No forwarded header is believed by uvicorn; the app's `ClientAddress` applies
        # TICKETLOOP_TRUSTED_PROXIES (uvicorn's default would trust any local peer).
        proxy_headers=UVICORN_PROXY_HEADERS,
        log_level="warning",
        # uvicorn's own lines (bind errors, bad requests) as JSON through the same filters as ours.
        log_config=uvicorn_log_config(
            create_app.__module__.split(".")[0].removeprefix("ticketloop_"),
            replica=settings.replica,
            level=settings.platform.log_level,
            json_lines=settings.platform.log_json,
        ),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
