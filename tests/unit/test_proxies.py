"""Whose forwarded header is believed, and which hop is the client."""

from __future__ import annotations

import pytest

from ticketloop_shared.proxies import TrustedProxies
from ticketloop_shared.settings import PlatformSettings


def _headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


def test_no_trusted_proxy_believes_no_header() -> None:
    proxies = TrustedProxies()
    assert not proxies
    assert proxies.client("127.0.0.1", _headers(x_forwarded_for="203.0.113.9")) == ("127.0.0.1", None)


def test_an_untrusted_peer_is_its_own_client_whatever_it_forwards() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    forged = _headers(x_forwarded_for="10.1.1.1", x_forwarded_proto="https")
    assert proxies.client("198.51.100.7", forged) == ("198.51.100.7", None)


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.10"])
    # the client wrote the first two; our two proxies appended the rest
    chain = _headers(x_forwarded_for="1.2.3.4, 10.9.9.9, 203.0.113.5, 192.0.2.10", x_forwarded_proto="https")
    assert proxies.client("10.0.0.2", chain) == ("203.0.113.5", "https")


def test_several_header_lines_are_one_list() -> None:
    proxies = TrustedProxies(["10.0.0.1"])
    lines = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.5")]
    assert proxies.client("10.0.0.1", lines)[0] == "203.0.113.5"


def test_only_trusted_hops_give_the_left_most_and_none_gives_the_peer() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client("10.0.0.1", _headers(x_forwarded_for="10.0.0.3, 10.0.0.2"))[0] == "10.0.0.3"
    assert proxies.client("10.0.0.1", [])[0] == "10.0.0.1"


def test_a_hop_that_is_no_address_stops_at_the_proxy_that_wrote_it() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client("10.0.0.1", _headers(x_forwarded_for="unknown, 10.0.0.2"))[0] == "10.0.0.2"
    assert proxies.client("10.0.0.1", _headers(x_forwarded_for="<script>"))[0] == "10.0.0.1"


def test_the_forwarded_header_when_configured_and_only_then() -> None:
    header = _headers(forwarded='for=1.2.3.4, for="[2001:db8::17]:4711";proto=https', x_forwarded_for="9.9.9.9")
    assert TrustedProxies(["::1"], "forwarded").client("::1", header) == ("2001:db8::17", "https")
    assert TrustedProxies(["::1"]).client("::1", header)[0] == "9.9.9.9"
    ipv4_port = _headers(forwarded="for=203.0.113.5:5000")
    assert TrustedProxies(["::1"], "forwarded").client("::1", ipv4_port)[0] == "203.0.113.5"


def test_an_ipv4_mapped_peer_matches_its_ipv4_network() -> None:
    proxies = TrustedProxies(["127.0.0.1"])
    assert proxies.client("::ffff:127.0.0.1", _headers(x_forwarded_for="203.0.113.5"))[0] == "203.0.113.5"


def test_the_setting_is_a_comma_separated_list_and_a_typo_is_refused() -> None:
    platform = PlatformSettings(trusted_proxies="10.0.0.0/8, 172.16.0.1")
    assert platform.proxies.trusts("10.20.30.40") and platform.proxies.trusts("172.16.0.1")
    assert not platform.proxies.trusts("172.16.0.2")
    assert not PlatformSettings().proxies
    with pytest.raises(ValueError, match="not an address or CIDR"):
        PlatformSettings(trusted_proxies="10.0.0.0/33")
