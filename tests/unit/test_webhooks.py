"""Webhook signing, the address check and the retry schedule, as pure functions; the signature
checked by the independent `standardwebhooks` verifier."""

from __future__ import annotations

import ipaddress
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from ticketloop_intake.webhooks import domain
from ticketloop_intake.webhooks.domain import ChannelEvent, Verdict
from ticketloop_shared import webhooks


def test_a_signature_verifies_with_standardwebhooks_and_two_secrets_both_verify() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    body = b'{"type":"ticket.replied","data":{"text":"caf\xc3\xa9"}}'
    headers = webhooks.headers([new, old], msg_id="msg_1", timestamp=int(time.time()), body=body)
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)
    assert headers["webhook-signature"].count("v1,") == 2


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "224.0.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "240.0.0.1",
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not webhooks.is_public(ipaddress.ip_address(address))


def test_public_addresses_pass() -> None:
    assert webhooks.is_public(ipaddress.ip_address("93.184.216.34"))
    assert webhooks.is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


async def test_only_http_and_https_and_no_credentials() -> None:
    for url, code in (("ftp://example.com/", "unsupported_scheme"), ("http://u:p@example.com/", "invalid_url")):
        with pytest.raises(webhooks.AddressRefused) as refused:
            await webhooks.check_url(url, allow_private=True)
        assert refused.value.code == code
    with pytest.raises(webhooks.AddressRefused):
        await webhooks.check_url("http://127.0.0.1:8080/x", allow_private=False)
    assert (await webhooks.check_url("http://127.0.0.1:8080/x", allow_private=True)).target.port == 8080


def test_the_default_schedule_spans_more_than_a_day_and_grows() -> None:
    settings = {"base": 60.0, "factor": 3.0, "cap": 43_200.0}
    assert webhooks.minimum_span(10, **settings) >= 86_400
    rng = random.Random(7)
    delays = [webhooks.retry_delay(n, rng=rng, **settings) for n in range(1, 10)]
    assert delays == sorted(delays)
    assert all(d <= 43_200 for d in delays)


def test_what_an_answer_means() -> None:
    assert domain.verdict(204, attempts=1, max_attempts=10) is Verdict.DELIVERED
    assert domain.verdict(410, attempts=1, max_attempts=10) is Verdict.GONE
    assert domain.verdict(500, attempts=9, max_attempts=10) is Verdict.RETRY
    assert domain.verdict(None, attempts=10, max_attempts=10) is Verdict.GIVE_UP
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert domain.failing_too_long(now - timedelta(hours=72), now, timedelta(hours=72))
    assert not domain.failing_too_long(None, now, timedelta(hours=72))


def test_every_channel_event_has_a_payload_builder() -> None:
    from ticketloop_intake.webhooks.fanout import BUILDERS

    # The acknowledgement (issue 20 item 3) and survey links are built now: every event has one.
    assert set(ChannelEvent) - set(BUILDERS) == set()


async def test_a_send_goes_to_the_address_checked_not_to_a_second_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to a public address when checked and to a private one a
    moment later. The request is made to the address checked, with the real host in `Host` and,
    over https, as the TLS server name (so the certificate is still checked against the host)."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(a) for a in next(answers)]

    monkeypatch.setattr(webhooks, "resolve", rebinding)
    checked = await webhooks.check_url("https://hooks.example.com/in?x=1", allow_private=False)
    url, host, extensions = checked.pinned()
    assert (url, host, extensions) == (
        "https://93.184.216.34/in?x=1",
        {"Host": "hooks.example.com"},
        {"sni_hostname": "hooks.example.com"},
    )
    # The second answer would have been refused: it is never asked for.
    with pytest.raises(webhooks.AddressRefused):
        await webhooks.check_url("https://hooks.example.com/in", allow_private=False)


async def test_pinning_keeps_a_port_and_brackets_an_ipv6_address(monkeypatch: pytest.MonkeyPatch) -> None:
    async def v6(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")]

    monkeypatch.setattr(webhooks, "resolve", v6)
    checked = await webhooks.check_url("http://hooks.example.com:8443/in", allow_private=False)
    assert checked.pinned() == (
        "http://[2606:2800:220:1:248:1893:25c8:1946]:8443/in",
        {"Host": "hooks.example.com:8443"},
        {},
    )


def test_an_admin_body_spliced_from_the_envelope_equals_the_body_written_from_its_fields() -> None:
    from datetime import UTC, datetime

    from ticketloop_intake.webhooks.fanout import delivery_body, envelope_body
    from ticketloop_shared.events import TicketAcknowledged, TicketAcknowledgedData

    at = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    event = TicketAcknowledged(
        source="intake",
        subject="t-1",
        time=at,
        data=TicketAcknowledgedData(
            ticket_id=uuid.uuid4(),
            number="W-1 ü",
            channel="web",
            category="billing",
            urgency="high",
            customer_id="cus_x",
            created_at=at,
            acknowledged_at=at,
            via="webhook",
        ),
    )
    delivery_id = uuid.uuid4()
    spliced = envelope_body(delivery_id, str(event.type), event.time, event.model_dump_json())
    written = delivery_body(delivery_id, str(event.type), event.time, json.loads(event.to_json()))
    assert json.loads(spliced) == json.loads(written)
    assert spliced.encode() == written
