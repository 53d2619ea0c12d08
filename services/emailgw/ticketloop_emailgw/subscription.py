"""Development convenience: the gateway subscribes its own receiver to the channel's events at
start-up (`make run`), and keeps the secret intake gives it in a file of the data folder.

Against intake's channel webhook API (`/v1/channel/webhooks`, the gateway's channel key): an
endpoint already at the receiver's URL is reused (its event types brought up to what the gateway
mails, resumed if intake disabled it); its secret comes from the file, or, when the file was lost,
from a rotation (the old secret keeps signing beside the new one for intake's overlap, so nothing
pending is refused). Only when no endpoint has the URL is one created."""

from __future__ import annotations

import logging
from pathlib import Path

from ticketloop_emailgw.intake import IntakeClient, IntakeRefused, IntakeUnavailable
from ticketloop_emailgw.outbound import KINDS
from ticketloop_emailgw.settings import EmailGatewaySettings, decode_secret

log = logging.getLogger("ticketloop_emailgw.subscription")


async def ensure_subscription(intake: IntakeClient, settings: EmailGatewaySettings, secret_file: Path) -> bytes | None:
    """The key to verify deliveries with, the receiver subscribed to every kind the gateway
    mails. None (logged) while intake cannot be reached or refuses (the caller tries again)."""
    url, wanted = settings.receiver_url, sorted(KINDS)
    try:
        found = [s for s in await intake.list_subscriptions() if s.url == url]
        if not found:
            subscription, secret = await intake.subscribe(url, wanted)
            log.info("subscribed %s to %s", url, ", ".join(wanted))
        else:
            subscription = found[0]
            if not set(wanted) <= subscription.event_types:
                every = sorted(subscription.event_types | set(wanted))
                subscription = await intake.update_subscription(subscription, every)
            if subscription.status != "active":
                subscription = await intake.resume_subscription(subscription)
                log.info("resumed the subscription of %s (it was %s)", url, found[0].status)
            if secret_file.exists():
                return decode_secret(secret_file.read_text().strip())
            secret = await intake.rotate_secret(subscription)
            log.info("the secret of %s was not kept: rotated it", url)
        key = decode_secret(secret)
    except (IntakeRefused, IntakeUnavailable, ValueError) as exc:
        log.warning("could not subscribe %s to intake's channel webhooks: %s", url, exc)
        return None
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    return key
