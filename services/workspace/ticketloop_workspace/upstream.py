"""The services behind the workspace, called over HTTP with the signed-in person's own token.

One `httpx.AsyncClient` per service, shared by every person (connections kept alive), each call
with a timeout. What a service answers becomes one of three outcomes a page can show: the JSON,
`Refused` (a 4xx with the API's own reason, shown on the page), or `Unavailable` (a 5xx, a timeout,
a refused connection: "service unavailable", never a 500 page). A 401 means the person's token no
longer works (expired, revoked): `SignedOut`, and the workspace forgets its cookie."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ticketloop_workspace.domain import api_reason

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | float | bool | None]


class UpstreamProblem(Exception):
    """A call to a service that did not give the page what it asked for."""


@dataclass
class Refused(UpstreamProblem):
    """The service said no (403, 404, 409, 412, 422, 429…): its code and message are shown."""

    service: str
    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.service} refused ({self.status} {self.code}): {self.message}"


@dataclass
class Unavailable(UpstreamProblem):
    """The service did not answer usefully (5xx, timeout, connection refused)."""

    service: str
    detail: str

    def __str__(self) -> str:
        return f"{self.service} is unavailable: {self.detail}"


@dataclass
class SignedOut(UpstreamProblem):
    """The service refused the person's token (401): the session is over."""

    service: str
    code: str
    message: str


class Upstreams:
    """The shared clients, one per service; opened with the app, closed when it stops."""

    def __init__(
        self, urls: Mapping[str, str], *, timeout: float, max_connections: int = 100, transport: Any = None
    ) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url, timeout=httpx.Timeout(timeout), limits=limits, transport=transport, follow_redirects=False
            )
            for name, url in urls.items()
        }

    async def aclose(self) -> None:
        """Close every client's connections."""
        for client in self.clients.values():
            await client.aclose()

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One call as the person (`timeout`: longer than the client's, for a large upload);
        raises `SignedOut`, `Refused` or `Unavailable` unless it succeeded."""
        client = self.clients[service]
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await client.request(
                method,
                path,
                params=query,
                json=json,
                headers={"Authorization": f"Bearer {token}", **(headers or {})},
                timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            raise Unavailable(service, "it did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(service, "it could not be reached") from exc
        if response.status_code < 400:
            return response
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        code, message = api_reason(response.status_code, body)
        if response.status_code == 401:
            raise SignedOut(service, code, message)
        if response.status_code >= 500:
            log.warning("upstream %s answered %s to %s %s", service, response.status_code, method, path)
            raise Unavailable(service, f"it answered {response.status_code}")
        raise Refused(service, response.status_code, code, message)

    async def get(self, service: str, path: str, *, token: str, params: Params | None = None) -> Any:
        """GET, the JSON body."""
        return (await self.send(service, "GET", path, token=token, params=params)).json()

    async def post(
        self, service: str, path: str, *, token: str, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """POST, the JSON body (None when there is none)."""
        response = await self.send(service, "POST", path, token=token, json=json, headers=headers)
        return response.json() if response.content else None

    async def put(self, service: str, path: str, *, token: str, json: Any = None) -> Any:
        """PUT, the JSON body."""
        response = await self.send(service, "PUT", path, token=token, json=json)
        return response.json() if response.content else None

    async def patch(self, service: str, path: str, *, token: str, json: Any = None) -> Any:
        """PATCH, the JSON body."""
        response = await self.send(service, "PATCH", path, token=token, json=json)
        return response.json() if response.content else None
