"""intake shows sla's deadlines, over real HTTP on a real PostgreSQL and broker: the clocks of the
newest `sla.clocks_changed` reach every read-back, older and repeated publications change nothing,
and a report's live session travels on in `ticket.created`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.builders import Story
from tests.support import (
    RunningService,
    admin_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.db import messaging
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.events import (
    ClockKind,
    ClockOutcome,
    ClockView,
    Envelope,
    SlaClocksChanged,
    SlaClocksChangedData,
    Topics,
)
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.unit_of_work import build_event

NO_DEADLINES = {"acknowledgement_due": None, "first_response_due": None, "resolution_due": None}


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


async def new_ticket(intake: RunningService, **overrides: Any) -> dict[str, Any]:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    return ticket


def clock(
    kind: ClockKind, start: datetime, *, minutes: float, status: ClockOutcome = ClockOutcome.RUNNING
) -> ClockView:
    """One clock as sla publishes it: due `minutes` after `start`, no due instant while paused."""
    due = None if status is ClockOutcome.PAUSED else start + timedelta(minutes=minutes)
    stopped = start + timedelta(minutes=1) if status in (ClockOutcome.MET, ClockOutcome.CANCELLED) else None
    return ClockView(
        clock=kind,
        cycle=1,
        status=status,
        started_at=start,
        due_at=due,
        target_seconds=minutes * 60,
        paused_seconds=30.0 if status is ClockOutcome.PAUSED else 0.0,
        stopped_at=stopped,
    )


def clocks_changed(ticket: dict[str, Any], version: int, clocks: list[ClockView]) -> SlaClocksChanged:
    """`sla.clocks_changed` for the ticket intake really holds."""
    created = datetime.fromisoformat(ticket["created_at"])
    data = SlaClocksChangedData(
        ticket_id=uuid.UUID(ticket["id"]),
        version=version,
        policy_id="standard",
        policy_version=3,
        changed_at=created + timedelta(seconds=version),
        clocks=clocks,
    )
    event = build_event(data, source="sla", time=data.changed_at)
    assert isinstance(event, SlaClocksChanged)
    return event


async def handled(intake: RunningService, event: Envelope) -> bool:
    """Whether intake's own consumer has taken `event` (its id is in the inbox under its group:
    the webhook fan-out records the events it reads there too, under a group of its own)."""
    table = messaging.inbox
    consumer = intake.runtime.consumer
    assert consumer is not None
    async with intake.runtime.sessions() as session:
        found = await session.scalar(
            select(table.c.event_id).where(table.c.event_id == event.id, table.c.consumer == consumer.group_id)
        )
        return found is not None


async def staff_view(intake: RunningService, ticket: dict[str, Any]) -> dict[str, Any]:
    r = await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())
    assert r.status_code == 200, r.text
    shown: dict[str, Any] = r.json()
    return shown


async def channel_view(intake: RunningService, ticket: dict[str, Any]) -> dict[str, Any]:
    r = await intake.client.get(f"/v1/channel/tickets/{ticket['id']}", headers=channel_headers())
    assert r.status_code == 200, r.text
    shown: dict[str, Any] = r.json()
    return shown


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_before_sla_publishes_the_deadlines_are_those_sla_will_start(intake: RunningService) -> None:
    # Issue 20 changed this: the 201 answer carries the deadlines that apply. With no policy
    # published by sla yet, SPEC's defaults (sla's FALLBACK), computed with sla's code, version 0.
    ticket = await new_ticket(intake, channel="phone")
    start = datetime.fromisoformat(ticket["created_at"])
    expected = {
        "acknowledgement_due": start + timedelta(minutes=10),
        "first_response_due": start + timedelta(minutes=15),
        "resolution_due": start + timedelta(minutes=1440),
    }
    for shown in (ticket, await staff_view(intake, ticket), await channel_view(intake, ticket)):
        assert {k: at(v) for k, v in shown["deadlines"].items()} == expected
        assert shown["sla"]["version"] == 0 and shown["sla"]["policy_id"] == "fallback"
        live = next(c for c in shown["sla"]["clocks"] if c["clock"] == "live_access")
        assert at(live["due_at"]) == start + timedelta(seconds=30)


async def test_sla_clocks_reach_the_staff_and_channel_read_back(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await new_ticket(intake)
    start = datetime.fromisoformat(ticket["created_at"])
    published = clocks_changed(
        ticket,
        1,
        [
            clock(ClockKind.ACKNOWLEDGEMENT, start, minutes=10),
            clock(ClockKind.FIRST_RESPONSE, start, minutes=15),
            clock(ClockKind.RESOLUTION, start, minutes=120),
            clock(ClockKind.LIVE_ACCESS, start, minutes=0.5, status=ClockOutcome.MET),
        ],
    )
    await publish(platform, published)
    await eventually(lambda: handled(intake, published))

    for shown in (await staff_view(intake, ticket), await channel_view(intake, ticket)):
        deadlines = shown["deadlines"]
        assert at(deadlines["acknowledgement_due"]) == start + timedelta(minutes=10)
        assert at(deadlines["first_response_due"]) == start + timedelta(minutes=15)
        assert at(deadlines["resolution_due"]) == start + timedelta(minutes=120)
        sla = shown["sla"]
        assert (sla["policy_id"], sla["version"]) == ("standard", 1)
        by_kind = {c["clock"]: c for c in sla["clocks"]}
        assert list(by_kind) == ["acknowledgement", "first_response", "resolution", "live_access"]
        assert set(by_kind["first_response"]) == {
            "clock",
            "cycle",
            "status",
            "started_at",
            "due_at",
            "target_seconds",
            "paused_seconds",
            "stopped_at",
            "breached_at",
        }
        assert by_kind["first_response"]["status"] == "running"
        assert by_kind["first_response"]["target_seconds"] == 900
        assert at(by_kind["first_response"]["started_at"]) == start
        assert by_kind["live_access"]["status"] == "met"
        assert at(by_kind["live_access"]["stopped_at"]) == start + timedelta(minutes=1)
    # The list carries no deadlines: nothing to show there.
    page = (await intake.client.get("/v1/channel/tickets", headers=channel_headers())).json()
    assert "deadlines" not in page["items"][0]


async def test_a_paused_or_ended_clock_shows_no_deadline(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = await new_ticket(intake)
    start = datetime.fromisoformat(ticket["created_at"])
    published = clocks_changed(
        ticket,
        4,
        [
            clock(ClockKind.ACKNOWLEDGEMENT, start, minutes=10, status=ClockOutcome.MET),
            clock(ClockKind.FIRST_RESPONSE, start, minutes=15, status=ClockOutcome.CANCELLED),
            clock(ClockKind.RESOLUTION, start, minutes=120, status=ClockOutcome.PAUSED),
        ],
    )
    await publish(platform, published)
    await eventually(lambda: handled(intake, published))

    shown = await channel_view(intake, ticket)
    assert shown["deadlines"] == NO_DEADLINES
    resolution = next(c for c in shown["sla"]["clocks"] if c["clock"] == "resolution")
    assert (resolution["status"], resolution["due_at"], resolution["paused_seconds"]) == ("paused", None, 30.0)


async def test_an_older_version_arriving_after_a_newer_one_changes_nothing(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await new_ticket(intake)
    start = datetime.fromisoformat(ticket["created_at"])
    newer = clocks_changed(ticket, 3, [clock(ClockKind.FIRST_RESPONSE, start, minutes=15)])
    older = clocks_changed(ticket, 2, [clock(ClockKind.FIRST_RESPONSE, start, minutes=45)])
    await publish(platform, newer)
    await eventually(lambda: handled(intake, newer))
    await publish(platform, older)  # after the newer one is stored: the statement's guard
    await eventually(lambda: handled(intake, older))

    shown = await staff_view(intake, ticket)
    assert shown["sla"]["version"] == 3
    assert at(shown["deadlines"]["first_response_due"]) == start + timedelta(minutes=15)

    # Both in one run (one subject, so one partition, consumed in this order): the newest wins.
    latest = clocks_changed(ticket, 5, [clock(ClockKind.FIRST_RESPONSE, start, minutes=30)])
    late = clocks_changed(ticket, 4, [clock(ClockKind.FIRST_RESPONSE, start, minutes=60)])
    await publish(platform, latest, late)
    await eventually(lambda: handled(intake, late))
    shown = await staff_view(intake, ticket)
    assert shown["sla"]["version"] == 5
    assert at(shown["deadlines"]["first_response_due"]) == start + timedelta(minutes=30)


async def test_the_same_publication_twice_has_one_effect(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = await new_ticket(intake)
    start = datetime.fromisoformat(ticket["created_at"])
    first = clocks_changed(ticket, 1, [clock(ClockKind.FIRST_RESPONSE, start, minutes=15)])
    # sla publishing version 1 again under a new event id (a replay) is no newer either.
    again = clocks_changed(ticket, 1, [clock(ClockKind.FIRST_RESPONSE, start, minutes=99)])
    await publish(platform, first, first, again)
    await eventually(lambda: handled(intake, again))

    shown = await staff_view(intake, ticket)
    assert shown["sla"]["version"] == 1
    [first_response] = shown["sla"]["clocks"]
    assert first_response["target_seconds"] == 900
    assert at(shown["deadlines"]["first_response_due"]) == start + timedelta(minutes=15)
    consumer = intake.runtime.consumer
    assert consumer is not None and consumer.parked == 0


async def test_clocks_of_a_ticket_intake_does_not_have_are_skipped_not_parked(
    intake: RunningService, platform: PlatformSettings
) -> None:
    stranger = Story().clocks_changed(datetime.now(UTC), version=1)
    await publish(platform, stranger)
    await eventually(lambda: handled(intake, stranger))
    consumer = intake.runtime.consumer
    assert consumer is not None and consumer.parked == 0


async def test_the_live_session_flag_travels_in_ticket_created(
    intake: RunningService, platform: PlatformSettings
) -> None:
    live = await new_ticket(intake, channel="messaging", live_session=True)
    plain = await new_ticket(intake)  # the flag is optional: false when not sent
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=2)
    flags = {e["subject"]: e["data"]["live_session"] for e in events if e["type"] == "ticket.created.v1"}
    assert flags == {live["id"]: True, plain["id"]: False}
