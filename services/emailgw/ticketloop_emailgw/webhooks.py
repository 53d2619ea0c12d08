"""Webhooks in: intake's channel deliveries, verified (Standard Webhooks), deduplicated by
`webhook-id`, and mailed. The answer tells intake whether to retry: 2xx once the relay took the
mail (or the delivery makes no mail), 5xx when the relay did not, so nothing is lost end to end."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ticketloop_emailgw.outbound import Delivery, NotMailable, compose
from ticketloop_emailgw.settings import EmailGatewaySettings

log = logging.getLogger("ticketloop_emailgw.webhooks")

MAX_DELIVERY_BYTES = 1_048_576

Send = Callable[[EmailMessage], Awaitable[None]]


class BadSignature(Exception):
    """A delivery that is not provably intake's (wrong or missing signature, stale timestamp)."""


def verify(key: bytes | None, headers: Mapping[str, str], body: bytes, *, tolerance_seconds: int, now: float) -> str:
    """The delivery's `webhook-id` once its signature is one of `v1,<base64 HMAC-SHA256 of
    "id.timestamp.body">` under `key` and its timestamp within the tolerance of `now`."""
    if key is None:
        raise BadSignature("no webhook secret is configured")
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not stamp or not signatures:
        raise BadSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError:
        raise BadSignature("webhook-timestamp is not a number of seconds") from None
    if abs(now - sent) > tolerance_seconds:
        raise BadSignature("webhook-timestamp is outside the tolerance")
    signed = f"{webhook_id}.{sent}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return webhook_id
    raise BadSignature("no matching signature")


class RecentIds:
    """The webhook ids mailed lately, the oldest forgotten past `size` (a redelivery after that
    gets the same Message-ID again, which the customer's client shows once)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, webhook_id: object) -> bool:
        return webhook_id in self._ids

    def add(self, webhook_id: str) -> None:
        """Remember one more id."""
        self._ids[webhook_id] = None
        self._ids.move_to_end(webhook_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Receiver:
    """The receiver's state: settings, the recent ids, how mail is sent."""

    def __init__(self, settings: EmailGatewaySettings, send: Send, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.send = send
        self.clock = clock
        self.recent = RecentIds(settings.webhook_dedup_size)
        self.key = settings.webhook_key
        self._in_flight: dict[str, _Slot] = {}

    async def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON answer for one delivery."""
        try:
            webhook_id = verify(
                self.key, headers, body, tolerance_seconds=self.settings.webhook_tolerance_seconds, now=self.clock()
            )
        except BadSignature as exc:
            return 401, _error("bad_signature", str(exc))
        slot = self._in_flight.setdefault(webhook_id, _Slot())
        slot.users += 1
        try:
            async with slot.lock:  # the same delivery arriving twice at once is mailed once
                return await self._deliver(webhook_id, body)
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._in_flight.pop(webhook_id, None)

    async def _deliver(self, webhook_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if webhook_id in self.recent:
            return 200, {"status": "duplicate"}
        try:
            payload = json.loads(body)
            delivery = Delivery(id=str(payload["id"]), type=str(payload["type"]), data=payload["data"])
            if not isinstance(delivery.data, Mapping):
                raise TypeError("data is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            return 400, _error("bad_delivery", f"not a delivery: {exc.__class__.__name__}")
        try:
            message = compose(delivery, self.settings, webhook_id=webhook_id)
        except NotMailable as exc:
            self.recent.add(webhook_id)
            return 200, {"status": "ignored", "reason": str(exc)}
        try:
            await self.send(message)
        except Exception as exc:  # the relay refused or is down: intake retries later
            log.warning("relay did not take the mail of delivery %s: %s", webhook_id, exc.__class__.__name__)
            return 503, _error("relay_unavailable", "the mail relay did not take the mail; retry later")
        self.recent.add(webhook_id)
        return 200, {"status": "sent", "message_id": str(message["Message-ID"])}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def webhooks_router(receiver: Callable[[], Receiver]) -> APIRouter:
    """`POST /webhooks`: where intake's channel subscription delivers."""
    router = APIRouter(tags=["webhooks"])

    @router.post("/webhooks", responses={401: {"description": "Bad signature or stale timestamp"}})
    async def receive(request: Request) -> JSONResponse:
        """One delivery: verified, mailed, answered (2xx done, 5xx retry)."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_DELIVERY_BYTES:
                return JSONResponse(_error("too_large", "the delivery is larger than 1 MiB"), status_code=413)
        status, answer = await receiver().receive(request.headers, body)
        return JSONResponse(answer, status_code=status)

    return router
