"""The email gateway beside the embedded stack (`make run`): a seventh process, no database, on
local ports, sending its mail to a development relay that writes `.eml` files to a folder."""

from __future__ import annotations

import os

from ticketloop_embedded.services import ServiceDef, ServiceProcess
from ticketloop_embedded.stack import Stack

EMAILGW = ServiceDef("emailgw", 8010)
SMTP_PORT = 2525
RELAY_PORT = 2526


def enabled() -> bool:
    """On unless `TICKETLOOP_EMAILGW_ENABLED=false`."""
    return os.environ.get("TICKETLOOP_EMAILGW_ENABLED", "true").lower() not in {"0", "false", "no"}


def start_email_gateway(stack: Stack) -> ServiceProcess:
    """Start the gateway against the stack's intake with the development channel key, its folder
    relay in `<data>/mail`, subscribed to the channel's webhooks; supervised like a service."""
    data = stack.config.data_dir
    env = {
        **stack.platform_env,
        "TICKETLOOP_EMAILGW_INTAKE_URL": stack.services["intake"].url,
        "TICKETLOOP_EMAILGW_DEV_RELAY_DIR": str(data / "mail"),
        "TICKETLOOP_EMAILGW_SUBSCRIBE_ON_START": "true",
        "TICKETLOOP_EMAILGW_THREAD_SECRET_FILE": str(data / "emailgw-thread-secret"),
        "TICKETLOOP_EMAILGW_WEBHOOK_SECRET_FILE": str(data / "emailgw-webhook-secret"),
        "TICKETLOOP_EMAILGW_REPLICA_ID": "emailgw",
    }
    port = int(os.environ.get("TICKETLOOP_EMAILGW_HTTP_PORT", EMAILGW.default_port))
    proc = ServiceProcess(EMAILGW, port=port, env=env, log_path=data / "logs" / "emailgw.log")
    stack.services[EMAILGW.name] = proc
    proc.start()
    proc.wait_ready(timeout=60)
    return proc


def welcome_lines(stack: Stack) -> list[str]:
    """Where mail goes in and comes out, and how to send one."""
    smtp = os.environ.get("TICKETLOOP_EMAILGW_SMTP_PORT", str(SMTP_PORT))
    return [
        f"Email channel: mail to SMTP 127.0.0.1:{smtp} becomes a ticket;"
        f" the gateway's mail lands in {stack.config.data_dir / 'mail'}",
        "  send one:  .venv/bin/python -m ticketloop_emailgw send --subject '[billing] Charged twice'",
    ]
