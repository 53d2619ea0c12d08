"""Repeat contacts as SPEC §1 words them: "a customer re-reporting the same open problem is
linked to it (repeat contact), not silently duplicated" — whichever of their channels they
write on, in other words as well as the same ones, when two reports arrive at once, and when a
retried report is answered again from its Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.support import RunningService, admin_headers, channel_headers, create_ticket_body, serve
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.settings import PlatformSettings


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform, consumer_enabled=False)
    async with serve(create_app(settings)) as running:
        yield running


async def other_channel(intake: RunningService) -> str:
    """The API key of a second channel client (say, the messaging bot next to the web form)."""
    r = await intake.client.post(
        "/v1/channel-clients", json={"name": "messaging-bot", "channels": ["web", "messaging"]}, headers=admin_headers()
    )
    assert r.status_code == 201, r.text
    key: str = r.json()["api_key"]
    return key


async def report(intake: RunningService, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    r = await intake.client.post("/v1/tickets", json=body, headers=headers or channel_headers())
    assert r.status_code in (200, 201), r.text
    return r.status_code, r.json()


async def test_the_same_problem_on_another_of_the_customers_channels_is_linked_to_the_open_ticket(
    intake: RunningService,
) -> None:
    body = create_ticket_body(subject="Parcel never arrived", description="Order 77 is a week late.")
    status, first = await report(intake, body)
    bot = await other_channel(intake)
    again = {**body, "channel": "messaging", "description": "Still nothing, where is it?"}
    status, linked = await report(intake, again, **channel_headers(bot))
    assert (status, linked["id"], linked["repeat_contact"]) == (200, first["id"], True)
    # The bot is answered with its own report only: channel clients never read each other's tickets.
    assert [e["body"] for e in linked["timeline"]] == ["Parcel never arrived\n\nStill nothing, where is it?"]
    assert (linked["description"], linked["customer_link"]) == ("Still nothing, where is it?", None)
    # Staff see one ticket with both reports on it.
    staff = await intake.client.get(f"/v1/tickets/{first['id']}", headers=admin_headers())
    messages = [e for e in staff.json()["timeline"] if e["kind"] == "message"]
    assert [(m["actor"], m["body"]) for m in messages] == [
        ("channel:messaging-bot", "Parcel never arrived\n\nStill nothing, where is it?")
    ]


async def test_the_same_problem_in_other_words_is_linked_and_a_different_one_is_not(intake: RunningService) -> None:
    body = create_ticket_body(subject="Invoice is wrong!")
    _, first = await report(intake, body)
    status, reworded = await report(intake, {**body, "subject": "my invoice is wrong", "description": "Again."})
    assert (status, reworded["id"]) == (200, first["id"])
    status, other = await report(intake, {**body, "subject": "Invoice address change", "description": "New street"})
    assert status == 201 and other["id"] != first["id"]


async def test_alike_subjects_with_other_numbers_are_two_problems(intake: RunningService) -> None:
    body = create_ticket_body(subject="Order 1234 not delivered", category="logistics_delay")
    _, first = await report(intake, body)
    status, other = await report(intake, {**body, "subject": "Order 5678 not delivered"})
    assert status == 201 and other["id"] != first["id"]
    status, again = await report(intake, {**body, "subject": "order 1234 still not delivered"})
    assert (status, again["id"]) == (200, first["id"])


async def test_a_chinese_report_in_other_words_is_linked(intake: RunningService) -> None:
    body = create_ticket_body(channel="messaging", subject="我的快递还没到", category="logistics_delay")
    _, first = await report(intake, body)
    status, again = await report(intake, {**body, "subject": "快递还没到", "description": "订单 88，已经一周了"})
    assert (status, again["id"]) == (200, first["id"])


async def test_two_identical_reports_at_once_open_one_ticket_and_link_the_other(intake: RunningService) -> None:
    for _ in range(5):  # several rounds: a race lost once in a while would otherwise pass by luck
        body = create_ticket_body()
        answers = await asyncio.gather(*(report(intake, body) for _ in range(4)))
        assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
        assert len({ticket["id"] for _, ticket in answers}) == 1
        [(_, created)] = [a for a in answers if a[0] == 201]
        staff = await intake.client.get(f"/v1/tickets/{created['id']}", headers=admin_headers())
        assert sum(e["kind"] == "message" for e in staff.json()["timeline"]) == 3


async def test_a_replayed_repeat_contact_still_says_it_is_one(intake: RunningService) -> None:
    body = create_ticket_body()
    _, first = await report(intake, body)
    bot = await other_channel(intake)
    headers = channel_headers(bot, **{"Idempotency-Key": "again-1"})
    answers = [await intake.client.post("/v1/tickets", json=body, headers=headers) for _ in range(2)]
    assert [(r.status_code, r.json()["id"], r.json()["repeat_contact"]) for r in answers] == [
        (200, first["id"], True),
        (200, first["id"], True),
    ]
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    # Replayed to the other channel as it was answered the first time: its own report only.
    assert answers[1].json()["timeline"] == answers[0].json()["timeline"]
    assert answers[1].json()["customer_link"] is None
    own = await intake.client.post("/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": "again-2"}))
    replayed = await intake.client.post(
        "/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": "again-2"})
    )
    assert (own.json()["repeat_contact"], replayed.json()["repeat_contact"]) == (True, True)
    # The channel that opened the ticket is answered with all of it, the first time and again.
    assert [e["kind"] for e in replayed.json()["timeline"]] == [e["kind"] for e in own.json()["timeline"]]
    assert replayed.json()["timeline"][0]["kind"] == "created"


async def test_an_erased_customers_tickets_keep_no_subject_trigrams(intake: RunningService) -> None:
    body = create_ticket_body()
    _, first = await report(intake, body)
    r = await intake.client.delete(f"/v1/customers/{body['customer']['id']}/personal-data", headers=admin_headers())
    assert r.status_code in (200, 204), r.text
    status, again = await report(intake, body)
    assert status == 201 and again["id"] != first["id"]
