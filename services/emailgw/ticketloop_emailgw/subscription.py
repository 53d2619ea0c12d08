"""Development convenience: the gateway subscribes its own receiver to the channel's events at
start-up (`make run`), and keeps the secret intake gives it in a file of the data folder."""

from __future__ import annotations

import logging
from pathlib import Path

from ticketloop_emailgw.intake import IntakeClient, IntakeRefused, IntakeUnavailable
from ticketloop_emailgw.outbound import KINDS
from ticketloop_emailgw.settings import EmailGatewaySettings, decode_secret

log = logging.getLogger("ticketloop_emailgw.subscription")


async def ensure_subscription(intake: IntakeClient, settings: EmailGatewaySettings, secret_file: Path) -> bytes | None:
    """The subscription secret to verify with: the one kept from an earlier start when the receiver
    is still subscribed, else a new subscription's. None (logged) when intake has no channel
    webhooks or refuses; the receiver then refuses every delivery until the secret is set."""
    try:
        subscribed = [s for s in await intake.list_subscriptions() if s.get("url") == settings.receiver_url]
        if subscribed and secret_file.exists():
            return decode_secret(secret_file.read_text().strip())
        created = await intake.subscribe(settings.receiver_url, sorted(KINDS))
    except (IntakeRefused, IntakeUnavailable, ValueError) as exc:
        log.warning("could not subscribe %s to intake's channel webhooks: %s", settings.receiver_url, exc)
        return None
    secret = str(created.get("secret") or "")
    try:
        key = decode_secret(secret)
    except ValueError:
        log.warning("intake's subscription answer holds no whsec_ secret; set TICKETLOOP_EMAILGW_WEBHOOK_SECRET")
        return None
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    log.info("subscribed %s to %s", settings.receiver_url, ", ".join(sorted(KINDS)))
    return key
