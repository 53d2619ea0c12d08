"""Plumbing for outbound webhooks that any service could use: Standard Webhooks signing, the
check that an address is one a server may call (no SSRF into the private network), and the
retry schedule's arithmetic. Which events go where, and when an endpoint is given up on, are
the sending service's rules, not here.

Signing follows https://www.standardwebhooks.com/: the secret is `whsec_<base64>`, the key is
its base64-decoded bytes, and each signature is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`;
several signatures (old and new secret during a rotation) are sent space-separated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh signing secret, as shown to the subscriber once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (its base64-decoded bytes)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` of a message with one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(secrets_: Sequence[str], *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per valid secret, space-separated."""
    return " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)


def headers(secrets_: Sequence[str], *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the JSON content type."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id=msg_id, timestamp=timestamp, body=body),
    }


class AddressRefused(ValueError):
    """A webhook URL a server must not call (scheme, or an address that is not public)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet: not loopback, link-local, private,
    multicast, unspecified or reserved (an IPv4-mapped IPv6 address is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL."""

    scheme: str
    host: str
    port: int


def parse_url(url: str) -> Target:
    """The scheme, host and port of an http(s) URL; anything else is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL: {exc}", code="invalid_url") from exc
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs can receive webhooks", code="unsupported_scheme")
    if not parts.hostname:
        raise AddressRefused("the URL has no host", code="invalid_url")
    if parts.username or parts.password:
        raise AddressRefused("credentials in the URL are not accepted", code="invalid_url")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressRefused(f"the host {host!r} does not resolve", code="unresolvable_host") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class Checked:
    """A webhook URL whose host resolved to addresses that were all allowed."""

    url: str
    target: Target
    addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]

    def pinned(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """The request to make so that the address checked is the address connected to: the URL
        with the host replaced by the first checked address, the `Host` header naming the real
        host, and (https) the TLS server name set to it, so the certificate is still verified
        against the host. Letting the HTTP client resolve the name again would open a window in
        which DNS answers differently (rebinding) and a private address gets the request."""
        address = self.addresses[0]
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        parts = urlsplit(self.url)
        default = 443 if parts.scheme == "https" else 80
        netloc = literal if self.target.port == default else f"{literal}:{self.target.port}"
        host = self.target.host if self.target.port == default else f"{self.target.host}:{self.target.port}"
        extensions = {"sni_hostname": self.target.host} if parts.scheme == "https" else {}
        return urlunsplit(parts._replace(netloc=netloc)), {"Host": host}, extensions


async def check_url(url: str, *, allow_private: bool) -> Checked:
    """Refuse a URL whose host resolves to any non-public address, unless allowed. Called at
    subscription and again before every send (DNS can change between the two); a send then goes
    to the address checked (`Checked.pinned`), never to a second resolution."""
    target = parse_url(url)
    addresses = await resolve(target.host, target.port)
    if not addresses:
        raise AddressRefused(f"the host {target.host!r} does not resolve", code="unresolvable_host")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise AddressRefused(
                    f"{target.host} resolves to {address}, which is not a public address", code="address_not_allowed"
                )
    return Checked(url=url, target=target, addresses=tuple(addresses))


def retry_delay(attempt: int, *, base: float, factor: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential with full
    jitter inside each step's band, so delays grow and never bunch up.

    nominal(n) = min(cap, base · factor^(n-1)); the delay is uniform in
    [nominal(n-1), nominal(n)] (nominal(0) = base / 2): the sum of the lower bounds is what the
    schedule is guaranteed to span.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    upper = min(cap, base * factor ** (attempt - 1))
    lower = base / 2 if attempt == 1 else min(cap, base * factor ** (attempt - 2))
    return (rng or random).uniform(lower, upper)


def minimum_span(attempts: int, *, base: float, factor: float, cap: float) -> float:
    """The least time `attempts` tries can span under `retry_delay` (the lower bounds' sum)."""
    return sum(base / 2 if n == 1 else min(cap, base * factor ** (n - 2)) for n in range(1, attempts))


def truncate(text: str, limit: int) -> str:
    """A response body as it is logged: at most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "…"
