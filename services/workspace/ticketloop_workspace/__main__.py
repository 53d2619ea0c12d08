"""`python -m ticketloop_workspace`: serve the workspace (no database, nothing to migrate)."""

from __future__ import annotations

from ticketloop_shared import serving
from ticketloop_shared.logging import uvicorn_log_config
from ticketloop_shared.proxies import UVICORN_PROXY_HEADERS
from ticketloop_workspace.app import create_app
from ticketloop_workspace.settings import WorkspaceSettings


def main() -> None:
    """Serve on the configured host and port."""
    settings = WorkspaceSettings()
    serving.run(
        create_app(settings),
        loop="uvloop",
        http="httptools",
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=UVICORN_PROXY_HEADERS,  # the app's `ClientAddress` decides (TICKETLOOP_TRUSTED_PROXIES)
        log_level="warning",
        log_config=uvicorn_log_config(
            "workspace",
            replica=settings.replica,
            level=settings.platform.log_level,
            json_lines=settings.platform.log_json,
        ),
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
