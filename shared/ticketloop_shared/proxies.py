"""Whose word about the client's address is believed: only a peer listed in
`TICKETLOOP_TRUSTED_PROXIES` (addresses or CIDRs; empty, the default: nobody's).

A request from a trusted proxy names the client in `X-Forwarded-For` (or, with
`TICKETLOOP_FORWARDED_HEADER=forwarded`, in RFC 7239 `Forwarded: for=`). Every proxy appends the
address it was called from, so only the right end of the list is written by proxies we trust;
the left end is whatever the client sent. The client is therefore the right-most hop that is not
itself a trusted proxy. A request from any other peer is its own client, whatever it says.

One ASGI middleware applies this to `scope["client"]` (and the scheme from `X-Forwarded-Proto`),
so everything behind it (the failed-credentials limit, logs, traces) sees the same address.
uvicorn's own header handling is switched off wherever a service is started (`proxy_headers=False`):
its default trusts 127.0.0.1, which let a local peer rotate `X-Forwarded-For` past the limit, and
it reads no `Forwarded`. One rule in one place, whatever server runs the app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
# What uvicorn is started with everywhere: it believes no header; `ClientAddress` decides.
UVICORN_PROXY_HEADERS = False

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str]) -> tuple[_Network, ...]:
    """The networks of a trusted-proxies list (`10.0.0.5`, `10.0.0.0/8`, `::1`); a malformed
    entry is a `ValueError` naming it (a setting that silently trusted nobody would hide a typo)."""
    networks = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an address or CIDR in TICKETLOOP_TRUSTED_PROXIES: {entry!r}") from exc
    return tuple(networks)


def _address(host: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _node(value: str) -> str:
    """The host of one `Forwarded` `for=` value: quotes, brackets and port taken off."""
    value = value.strip().strip('"')
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:  # an IPv4 address with a port
        return value.partition(":")[0]
    return value


class TrustedProxies:
    """The proxies whose forwarded headers are believed, and the client address they give."""

    def __init__(self, entries: Sequence[str] = (), header: ForwardedHeader = "x-forwarded-for") -> None:
        self.networks = parse_networks(entries)
        self.header = header

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        """`host` is one of the trusted proxies."""
        address = _address(host)
        return address is not None and any(address in network for network in self.networks)

    def hops(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[list[str], list[str]]:
        """The forwarded-for hops, left to right, and the forwarded protocols, from every
        instance of the configured header (a proxy may add a line rather than extend one)."""
        hosts: list[str] = []
        protos: list[str] = []
        for name, raw in headers:
            key = name.lower()
            if self.header == "x-forwarded-for" and key == b"x-forwarded-for":
                hosts += [h.strip() for h in raw.decode("latin-1").split(",")]
            elif self.header == "x-forwarded-for" and key == b"x-forwarded-proto":
                protos += [p.strip().lower() for p in raw.decode("latin-1").split(",")]
            elif self.header == "forwarded" and key == b"forwarded":
                for element in raw.decode("latin-1").split(","):
                    pairs = {k.strip().lower(): v for k, _, v in (p.partition("=") for p in element.split(";"))}
                    hosts.append(_node(pairs.get("for", "")))
                    protos.append(pairs.get("proto", "").strip().strip('"').lower())
        return hosts, protos

    def client(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
        """The client's address and the scheme it used (None: the connection's own) for a
        request from `peer`: the right-most hop that is not a trusted proxy. A hop that is no
        address (`unknown`, an obfuscated name, garbage) ends the walk at the proxy that wrote it."""
        if not self.trusts(peer):
            return peer, None
        hosts, protos = self.hops(headers)
        client = peer
        for host in reversed(hosts):
            address = _address(host)
            if address is None:
                break
            client = str(address)
            if not self.trusts(client):
                break
        proto = protos[-1] if protos and protos[-1] in ("http", "https") else None
        return client, proto


class ClientAddress:
    """ASGI middleware: `scope["client"]` becomes the client a trusted proxy names (see the
    module docstring); with no trusted proxy configured it passes every request through as is."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.proxies and scope["type"] in ("http", "websocket") and scope.get("client"):
            host, proto = self.proxies.client(scope["client"][0], scope["headers"])
            if host != scope["client"][0]:
                scope = {**scope, "client": (host, 0)}
            if proto is not None:
                scope = {**scope, "scheme": proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]}
        await self.app(scope, receive, send)
