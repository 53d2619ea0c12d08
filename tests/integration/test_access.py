"""Who may change what: the organisation only over the version read, audited; staff tokens
revoked in routing are refused by every service within seconds."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from tests.builders import create_ticket_created
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    serve,
)
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings
from ticketloop_workspace.app import create_app as create_workspace
from ticketloop_workspace.settings import WorkspaceSettings


@pytest.fixture
async def routing(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = RoutingSettings(database_url=await new_database("routing"), platform=platform)
    async with serve(create_routing(settings)) as running:
        yield running


async def read_organisation(routing: RunningService) -> tuple[dict[str, Any], str]:
    r = await routing.client.get("/v1/organisation", headers=agent_headers())
    return r.json(), r.headers["ETag"]


async def test_changing_the_organisation_needs_the_version_read(routing: RunningService) -> None:
    org, etag = await read_organisation(routing)
    org["departments"][0]["name"] = "Renamed"

    missing = await routing.client.put("/v1/organisation", json=org, headers=admin_headers())
    assert missing.status_code == 428 and missing.json()["error"]["code"] == "if_match_required"

    done = await routing.client.put("/v1/organisation", json=org, headers={**admin_headers(), "If-Match": etag})
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] != etag

    stale = await routing.client.put("/v1/organisation", json=org, headers={**admin_headers(), "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["details"]["current_etag"] == done.headers["ETag"]


async def test_two_admins_racing_on_one_version_change_it_once(routing: RunningService) -> None:
    org, etag = await read_organisation(routing)
    first = {**org, "departments": [{**org["departments"][0], "name": "One"}, *org["departments"][1:]]}
    second = {**org, "departments": [{**org["departments"][0], "name": "Two"}, *org["departments"][1:]]}
    results = await asyncio.gather(
        *(
            routing.client.put("/v1/organisation", json=body, headers={**admin_headers(), "If-Match": etag})
            for body in (first, second)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 412]


async def test_an_agent_who_owns_open_tickets_cannot_be_removed(
    routing: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created(category="billing")
    await publish(platform, created)

    async def assigned() -> bool:
        r = await routing.client.get(f"/v1/assignments/{created.data.ticket_id}", headers=admin_headers())
        return r.status_code == 200 and r.json()["agent_id"] == "agent-fin-1"

    await eventually(assigned)
    org, etag = await read_organisation(routing)
    without = {**org, "agents": [a for a in org["agents"] if a["id"] != "agent-fin-1"], "categories": {}}
    r = await routing.client.put("/v1/organisation", json=without, headers={**admin_headers(), "If-Match": etag})
    assert r.status_code == 409 and r.json()["error"]["details"] == {"agents": ["agent-fin-1"]}

    inactive = {**org, "agents": [{**a, "active": a["id"] != "agent-fin-1"} for a in org["agents"]]}
    inactive["agents"].append({"id": "agent-fin-2", "name": "New Hire", "department": "finance", "active": True})
    r = await routing.client.put("/v1/organisation", json=inactive, headers={**admin_headers(), "If-Match": etag})
    assert r.status_code == 200, r.text


async def test_organisation_changes_are_in_the_audit_log_for_admins_only(routing: RunningService) -> None:
    org, etag = await read_organisation(routing)
    org["agents"].append({"id": "agent-new", "name": "New", "department": "finance"})
    r = await routing.client.put("/v1/organisation", json=org, headers={**admin_headers(), "If-Match": etag})
    assert r.status_code == 200

    assert (await routing.client.get("/v1/audit", headers=agent_headers())).status_code == 403
    page = (await routing.client.get("/v1/audit?action=organisation.replaced", headers=admin_headers())).json()
    [entry] = page["items"]
    assert entry["actor"] == "admin-test" and entry["role"] == "admin"
    assert entry["details"]["agents"] == {"added": ["agent-new"], "removed": [], "changed": []}


@pytest.mark.slow
async def test_a_revoked_token_is_refused_by_every_service(
    routing: RunningService, platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    sla_settings = SlaSettings(database_url=await new_database("sla"), platform=platform)
    async with serve(create_sla(sla_settings)) as sla:
        leaked, other = agent_headers("agent-leaky"), agent_headers("agent-other")
        assert (await routing.client.get("/v1/organisation", headers=leaked)).status_code == 200
        assert (await sla.client.get("/v1/breaches", headers=leaked)).status_code == 200
        jti = _jti(leaked)

        assert (await routing.client.post("/v1/token-revocations", json={"jti": jti}, headers=other)).status_code == 403
        r = await routing.client.post(
            "/v1/token-revocations", json={"jti": jti, "reason": "pasted in a chat"}, headers=admin_headers()
        )
        assert r.status_code == 201, r.text

        async def refused(service: RunningService) -> bool:
            r = await service.client.get("/v1/organisation" if service is routing else "/v1/breaches", headers=leaked)
            return r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"

        await eventually(lambda: refused(routing), timeout=5)
        await eventually(lambda: refused(sla), timeout=10)
        assert (await sla.client.get("/v1/breaches", headers=other)).status_code == 200

        # all of a member's tokens issued so far; a token issued later works
        await asyncio.sleep(1.1)  # token times have one-second resolution
        r = await routing.client.post("/v1/token-revocations", json={"sub": "agent-other"}, headers=admin_headers())
        assert r.status_code == 201
        await eventually(lambda: _status_is(sla, other, 401), timeout=10)
        await asyncio.sleep(1.1)
        assert (await sla.client.get("/v1/breaches", headers=agent_headers("agent-other"))).status_code == 200

        audit = (await routing.client.get("/v1/audit?action=token.revoked", headers=admin_headers())).json()
        assert [e["subject"] for e in audit["items"]] == ["staff:agent-other", f"token:{jti}"]


async def test_a_revocation_needs_exactly_one_target(routing: RunningService) -> None:
    for body in ({}, {"jti": "a", "sub": "b"}):
        r = await routing.client.post("/v1/token-revocations", json=body, headers=admin_headers())
        assert r.status_code == 422


async def test_a_notifier_token_is_not_staff(routing: RunningService) -> None:
    r = await routing.client.get("/v1/organisation", headers=agent_headers("mailer", Role.NOTIFIER))
    assert r.status_code == 403 and r.json()["error"]["code"] == "staff_required"


def _jti(headers: dict[str, str]) -> str:
    payload = headers["Authorization"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


async def _status_is(service: RunningService, headers: dict[str, str], status: int) -> bool:
    return (await service.client.get("/v1/breaches", headers=headers)).status_code == status


async def test_a_staff_token_over_its_rate_gets_429_with_when_to_retry(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_staff_per_minute": 3})
    settings = SlaSettings(database_url=await new_database("sla"), platform=limited)
    async with serve(create_sla(settings)) as sla:
        busy = agent_headers("agent-busy")
        first = await sla.client.get("/v1/breaches", headers=busy)
        assert first.status_code == 200
        assert first.headers["RateLimit-Limit"] == "3" and first.headers["RateLimit-Remaining"] == "2"
        for _ in range(2):
            assert (await sla.client.get("/v1/breaches", headers=busy)).status_code == 200
        over = await sla.client.get("/v1/breaches", headers=busy)
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limited"
        assert over.json()["error"]["details"]["policy"] == "staff"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert over.headers["RateLimit"].startswith('"staff";r=0;t=')
        # another token has its own allowance
        assert (await sla.client.get("/v1/breaches", headers=agent_headers("agent-calm"))).status_code == 200


async def test_an_address_sending_bad_credentials_is_slowed_down_but_its_valid_credentials_still_work(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3})
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=limited)
    async with serve(create_intake(intake_settings)) as intake:
        bad_token = {"Authorization": "Bearer tl1.forged.token"}
        for _ in range(2):
            assert (await intake.client.get("/v1/tickets", headers=bad_token)).status_code == 401
        bad_key = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers={"X-Api-Key": "guess"})
        assert bad_key.status_code == 401
        # guessing stops paying: any other bad credential from this address waits
        for headers in (bad_token, _forged("someone-new"), {"X-Api-Key": "another-guess"}):
            refused = await intake.client.get("/v1/tickets", headers=headers)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["details"]["policy"] == "failed_credentials"
            assert "Retry-After" in refused.headers
        # but the address's valid credentials are never refused for it
        assert (await intake.client.get("/v1/tickets", headers=agent_headers())).status_code == 200
        assert (await intake.client.get("/v1/tickets", headers=admin_headers())).status_code == 200
        created = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
        assert created.status_code == 201, created.text


async def test_a_rotating_forwarded_for_from_an_untrusted_peer_changes_nothing(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3})
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=limited)
    async with serve(create_intake(intake_settings)) as intake:
        statuses = [
            (
                await intake.client.get(
                    "/v1/tickets", headers={**_forged(f"agent-{i}"), "X-Forwarded-For": f"203.0.113.{i}"}
                )
            ).status_code
            for i in range(10)
        ]
        assert statuses == [401] * 3 + [429] * 7


async def test_behind_a_trusted_proxy_each_forwarded_client_is_limited_on_its_own(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3, "trusted_proxies": "127.0.0.1"})
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=limited)
    async with serve(create_intake(intake_settings)) as intake:

        async def bad_from(client: str, sub: str) -> int:
            headers = {**_forged(sub), "X-Forwarded-For": f"198.51.100.99, {client}"}
            return (await intake.client.get("/v1/tickets", headers=headers)).status_code

        assert [await bad_from("203.0.113.1", f"agent-{i}") for i in range(4)] == [401, 401, 401, 429]
        # another client behind the same proxy is not held up by the first one's failures
        assert [await bad_from("203.0.113.2", f"other-{i}") for i in range(3)] == [401, 401, 401]
        assert await bad_from("203.0.113.2", "other-3") == 429
        valid = {**agent_headers(), "X-Forwarded-For": "203.0.113.1"}
        assert (await intake.client.get("/v1/tickets", headers=valid)).status_code == 200


async def test_a_limited_subject_or_key_is_refused_from_any_address_and_its_owner_still_gets_in(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3, "trusted_proxies": "127.0.0.1"})
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=limited)
    async with serve(create_intake(intake_settings)) as intake:
        victim = _forged("agent-victim")
        statuses = [
            (
                await intake.client.get("/v1/tickets", headers={**victim, "X-Forwarded-For": f"203.0.113.{i}"})
            ).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        owner = {**agent_headers("agent-victim"), "X-Forwarded-For": "203.0.113.1"}
        assert (await intake.client.get("/v1/tickets", headers=owner)).status_code == 200

        stale_key = {"X-Api-Key": "tlk_revoked-key-replayed-from-everywhere"}
        statuses = [
            (
                await intake.client.post(
                    "/v1/tickets",
                    json=create_ticket_body(),
                    headers={**stale_key, "X-Forwarded-For": f"198.51.100.{i}"},
                )
            ).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        created = await intake.client.post(
            "/v1/tickets", json=create_ticket_body(), headers={**channel_headers(), "X-Forwarded-For": "198.51.100.1"}
        )
        assert created.status_code == 201, created.text


def _forged(sub: str) -> dict[str, str]:
    """A well-formed token claiming `sub`, signed with a secret that is not the install's."""
    return agent_headers(sub, secret="not-the-install-secret-0123456789")


async def test_a_channel_client_over_its_rate_gets_429(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    limited = platform.model_copy(update={"rate_channel_per_minute": 2})
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=limited)
    async with serve(create_intake(intake_settings)) as intake:
        for _ in range(2):
            r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
            assert r.status_code == 201, r.text
        over = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
        assert over.status_code == 429 and over.json()["error"]["details"]["policy"] == "channel"
        listed = (await intake.client.get("/v1/tickets", headers=admin_headers())).json()
        assert listed["total"] == 2


async def test_metrics_are_open_by_default_and_for_the_metrics_token_only_once_it_is_set(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    async with serve(create_sla(SlaSettings(database_url=await new_database("sla"), platform=platform))) as sla:
        assert (await sla.client.get("/metrics")).status_code == 200  # the embedded stack's default
    guarded = platform.model_copy(update={"metrics_token": SecretStr("scrape-me-0123456789")})
    async with serve(create_sla(SlaSettings(database_url=await new_database("sla"), platform=guarded))) as sla:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, admin_headers()):
            refused = await sla.client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "metrics_token_required"
            assert "ticketloop_" not in refused.text
        scraped = await sla.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
        assert scraped.status_code == 200 and "ticketloop_http_requests_total" in scraped.text
        assert (await sla.client.get("/health/ready")).status_code == 200  # probes need no token
    workspace = create_workspace(WorkspaceSettings(platform=guarded), with_live=False)
    async with serve(workspace, wait_consumer=False) as running:
        assert (await running.client.get("/metrics")).status_code == 401
        scraped = await running.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
        assert scraped.status_code == 200
