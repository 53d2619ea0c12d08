"""Survey links for `survey.due` deliveries, from feedback, at the moment each one is sent.

Why here and this way: the link is the customer's credential, minted by feedback. It must not
travel on a topic (issue 20), and intake should not keep a copy either, so intake stores the
delivery without it and asks feedback for that one survey's link (`GET
/v1/survey-deliveries/{survey_id}`, a notifier token signed with the install's secret, audited by
feedback) just before signing and sending; once the channel took it, intake reports it delivered
so the notifier's list drops it. feedback down is one more failed attempt, retried on the usual
schedule; a survey answered, withdrawn or expired meanwhile has nothing left to send.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.webhooks.domain import SURVEY_URL
from ticketloop_shared.auth import Role, token_for

log = logging.getLogger("ticketloop_intake.webhooks")

# The principal intake acts as toward feedback (a delivery system: it sees survey links only).
NOTIFIER_SUB = "intake-webhooks"


class SurveyClosed(Exception):
    """The survey takes no answer any more (answered, withdrawn, expired) or is unknown."""


class LinkUnavailable(Exception):
    """feedback could not be asked now: try the delivery again later."""


def feedback_client(settings: IntakeSettings) -> httpx.AsyncClient:
    """A client to feedback (an internal service: the webhook address rules do not apply)."""
    token = token_for(settings.platform, sub=NOTIFIER_SUB, role=Role.NOTIFIER, ttl_seconds=600)
    return httpx.AsyncClient(
        base_url=settings.feedback_url,
        headers={"Authorization": f"Bearer {token}", "User-Agent": "ticketloop-intake-webhooks"},
        timeout=httpx.Timeout(settings.webhooks_timeout_seconds),
        trust_env=False,
    )


def survey_of(body: bytes) -> uuid.UUID:
    """The survey a `survey.due` delivery announces."""
    return uuid.UUID(str(json.loads(body)["data"]["survey_id"]))


async def with_link(client: httpx.AsyncClient, body: bytes) -> bytes:
    """The delivery's body with `data.survey_url` filled in from feedback."""
    survey_id = survey_of(body)
    try:
        response = await client.get(f"/v1/survey-deliveries/{survey_id}")
    except httpx.HTTPError as exc:
        raise LinkUnavailable(f"feedback unreachable: {type(exc).__name__}") from None
    if response.status_code in (404, 409, 410):
        raise SurveyClosed(_code(response))
    if response.status_code != 200:
        raise LinkUnavailable(f"feedback answered {response.status_code} ({_code(response)})")
    payload: dict[str, Any] = json.loads(body)
    payload["data"][SURVEY_URL] = str(response.json()["link"])
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def report_delivered(client: httpx.AsyncClient, body: bytes) -> None:
    """Tell feedback the channel took the link (best effort: on failure the notifier may send it
    too, which is a duplicate, never a loss)."""
    survey_id = survey_of(body)
    try:
        response = await client.post(f"/v1/survey-deliveries/{survey_id}/delivered")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("could not report survey %s delivered to feedback: %s", survey_id, type(exc).__name__)


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)
