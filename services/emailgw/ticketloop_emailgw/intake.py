"""intake's public channel API, as the gateway calls it (with its channel key, nothing else)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from ticketloop_emailgw.settings import EmailGatewaySettings

# How many pages of the channel's own tickets a number in a subject is looked for in (newest first).
_NUMBER_SCAN_PAGES = 3
_PAGE = 200


class IntakeUnavailable(Exception):
    """intake did not answer, or answered 5xx/429: the sender should try again later (SMTP 451)."""


class IntakeRefused(Exception):
    """intake answered 4xx: retrying the same mail will not help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Subscription:
    """One of the channel's webhook endpoints, as intake lists it (never with its secret)."""

    id: uuid.UUID
    url: str
    event_types: frozenset[str]
    status: str
    version: int


@dataclass(frozen=True)
class TicketRef:
    """What the gateway needs of a ticket intake read back."""

    id: uuid.UUID
    number: str
    customer_id: str


class IntakeClient:
    """One keep-alive HTTP client to intake, for the gateway's life."""

    def __init__(self, settings: EmailGatewaySettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=settings.intake_url,
            headers={"X-Api-Key": settings.channel_key.get_secret_value(), "User-Agent": "ticketloop-emailgw"},
            timeout=settings.intake_timeout_seconds,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def create_ticket(self, body: dict[str, Any], *, idempotency_key: str) -> TicketRef:
        """`POST /v1/tickets` (201, or 200 when intake adds it to the customer's open ticket)."""
        data = await self._call("POST", "/v1/tickets", json=body, headers={"Idempotency-Key": idempotency_key})
        return _ref(data)

    async def add_message(self, ticket_id: uuid.UUID, text: str, *, idempotency_key: str) -> TicketRef:
        """`POST /v1/tickets/{id}/messages`: the customer writes again."""
        data = await self._call(
            "POST",
            f"/v1/tickets/{ticket_id}/messages",
            json={"body": text},
            headers={"Idempotency-Key": idempotency_key},
        )
        return _ref(data)

    async def find_by_number(self, number: str) -> TicketRef | None:
        """One of this channel's own tickets by its number, from the channel read-back (newest first,
        a few pages: a subject's number is almost always a recent ticket's)."""
        for page in range(_NUMBER_SCAN_PAGES):
            data = await self._call(
                "GET", "/v1/channel/tickets", params={"number": number, "limit": _PAGE, "offset": page * _PAGE}
            )
            items = data.get("items", [])
            for item in items:
                if item.get("number") == number:
                    return _ref(item)
            if len(items) < _PAGE:
                return None
        return None

    async def list_subscriptions(self) -> list[Subscription]:
        """The channel's webhook endpoints (`GET /v1/channel/webhooks`: a JSON list)."""
        data = await self._call("GET", "/v1/channel/webhooks")
        if not isinstance(data, list):
            raise IntakeUnavailable("intake's endpoint list is not a list")
        return [_subscription(item) for item in data]

    async def subscribe(self, url: str, event_types: list[str]) -> tuple[Subscription, str]:
        """Subscribe `url` to the channel's events (`POST /v1/channel/webhooks`): the endpoint and
        its signing secret, which intake shows this once."""
        data = await self._call(
            "POST",
            "/v1/channel/webhooks",
            json={"url": url, "event_types": event_types, "description": "ticketloop email gateway"},
        )
        return _subscription(data), _secret(data)

    async def update_subscription(self, subscription: Subscription, event_types: list[str]) -> Subscription:
        """Change the endpoint's event types over the version read (`PATCH` with `If-Match`)."""
        data = await self._call(
            "PATCH",
            f"/v1/channel/webhooks/{subscription.id}",
            json={"event_types": event_types},
            headers={"If-Match": f'"{subscription.version}"'},
        )
        return _subscription(data)

    async def resume_subscription(self, subscription: Subscription) -> Subscription:
        """Send again to an endpoint paused, or disabled by intake (`POST …/resume`)."""
        return _subscription(await self._call("POST", f"/v1/channel/webhooks/{subscription.id}/resume"))

    async def rotate_secret(self, subscription: Subscription) -> str:
        """A new signing secret for the endpoint (`POST …/rotate-secret`), shown this once."""
        return _secret(await self._call("POST", f"/v1/channel/webhooks/{subscription.id}/rotate-secret"))

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(f"intake unreachable: {exc.__class__.__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise IntakeUnavailable(f"intake answered {response.status_code}")
        if response.status_code >= 400:
            code, message = _error(response)
            raise IntakeRefused(response.status_code, code, message)
        try:
            return response.json()
        except ValueError:
            raise IntakeUnavailable("intake answered with something other than JSON") from None


def _ref(data: Any) -> TicketRef:
    """From a ticket (`customer.id`) or a list item (`customer_id`)."""
    try:
        customer = data["customer"]["id"] if "customer" in data else data["customer_id"]
        return TicketRef(id=uuid.UUID(str(data["id"])), number=str(data["number"]), customer_id=str(customer))
    except (KeyError, TypeError, ValueError):
        raise IntakeUnavailable("intake's answer has no ticket id and number") from None


def _subscription(data: Any) -> Subscription:
    try:
        return Subscription(
            id=uuid.UUID(str(data["id"])),
            url=str(data["url"]),
            event_types=frozenset(str(t) for t in data["event_types"]),
            status=str(data["status"]),
            version=int(data["version"]),
        )
    except (KeyError, TypeError, ValueError):
        raise IntakeUnavailable("intake's answer is not a webhook endpoint") from None


def _secret(data: Any) -> str:
    secret = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or not secret:
        raise IntakeUnavailable("intake's answer holds no signing secret")
    return secret


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
        return str(error.get("code", "error")), str(error.get("message", ""))[:300]
    except (ValueError, AttributeError):
        return "error", response.text[:300]
