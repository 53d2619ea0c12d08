"""sla fed by the real intake: the deadlines intake promises are the ones sla measures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import agent_headers, assign_in_intake, channel_headers, create_ticket_body, eventually, serve
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_sla_measures_the_deadlines_intake_read_back(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    clock = FrozenClock(T0)
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    sla_settings = SlaSettings(database_url=await new_database("sla"), platform=platform, breach_check_seconds=3600)
    async with (
        serve(create_intake(intake_settings, clock=clock)) as intake,
        serve(create_sla(sla_settings, clock=clock)) as sla,
    ):
        r = await intake.client.post("/v1/tickets", json=create_ticket_body(channel="phone"), headers=channel_headers())
        assert r.status_code == 201, r.text
        ticket = r.json()
        await assign_in_intake(intake, platform, ticket)  # only the owner replies
        clock.set(T0 + timedelta(minutes=2))
        r = await intake.client.post(
            f"/v1/tickets/{ticket['id']}/replies", json={"body": "Calling you back"}, headers=agent_headers()
        )
        assert r.status_code == 201, r.text

        async def first_response_stopped() -> dict[str, Any] | None:
            got = await sla.client.get(f"/v1/tickets/{ticket['id']}/sla", headers=agent_headers())
            if got.status_code != 200:
                return None
            clocks = {c["clock"]: c for c in got.json()["clocks"]}
            return clocks if clocks["first_response"]["status"] != "running" else None

        clocks = await eventually(first_response_stopped)

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value)

    assert at(clocks["first_response"]["due_at"]) == at(ticket["deadlines"]["first_response_due"])
    assert at(clocks["resolution"]["due_at"]) == at(ticket["deadlines"]["resolution_due"])
    assert at(clocks["first_response"]["started_at"]) == at(ticket["created_at"]) == T0
    assert clocks["first_response"]["status"] == "met"
    assert at(clocks["first_response"]["stopped_at"]) == T0 + timedelta(minutes=2)
    assert clocks["resolution"]["status"] == "running"
