"""The staff workspace over real HTTP in front of the real services (separate processes, started
by the supervisor code of `make run`): sign-in with the API's tokens, CSRF and Origin on every
form, the CSP on every page, each screen with real data for an agent and a supervisor, actions
that land in intake, refusals shown with the API's reason, and a token the services refuse ends
the session."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import TEST_SECRET, channel_headers, create_ticket_body, eventually, running_stack
from ticketloop_embedded.stack import Stack
from ticketloop_shared.auth import Role, issue_token
from ticketloop_workspace.domain import CONTENT_SECURITY_POLICY, COOKIE

pytestmark = pytest.mark.xdist_group("e2e-stacks")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack("ticketloop-workspace-", workspace=True) as running:
        yield running


def token(sub: str, role: Role = Role.AGENT, *, ttl: int = 3600, now: float | None = None) -> str:
    department = "finance" if role is not Role.ADMIN else None
    return issue_token(TEST_SECRET, sub=sub, role=role, name=sub, department=department, ttl_seconds=ttl, now=now)


def base(stack: Stack) -> str:
    return stack.services["workspace"].url


def browser(stack: Stack) -> httpx.AsyncClient:
    """A client that behaves like a browser on the workspace's origin (cookies, Origin header)."""
    url = base(stack)
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"Origin": url})


async def sign_in(client: httpx.AsyncClient, raw: str) -> httpx.Response:
    return await client.post("/workspace/login", data={"token": raw, "next": "/workspace"})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def idempotency_of(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


async def new_ticket(stack: Stack, **overrides: Any) -> dict[str, Any]:
    """A billing ticket (finance) from a channel, once routing has given it an owner."""
    intake = stack.services["intake"].url
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{intake}/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}

        async def owned() -> dict[str, Any] | None:
            t = (await http.get(f"{intake}/v1/tickets/{ticket_id}", headers=admin)).json()
            return t if t.get("assignee") else None

        ticket: dict[str, Any] = await eventually(owned, timeout=30)
        return ticket


async def test_sign_in_needs_a_good_unexpired_staff_token(stack: Stack) -> None:
    async with browser(stack) as client:
        r = await client.get("/workspace")
        assert r.status_code == 303 and r.headers["location"].startswith("/workspace/login")
        r = await sign_in(client, "not-a-token")
        assert r.status_code == 401 and "not valid" in r.text
        expired = token("agent-fin-1", ttl=60, now=time.time() - 3600)
        r = await sign_in(client, expired)
        assert r.status_code == 401 and "expired" in r.text
        assert COOKIE not in client.cookies
        r = await sign_in(client, token("agent-fin-1"))
        assert r.status_code == 303 and r.headers["location"] == "/workspace"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/workspace" in cookie
        r = await client.get("/workspace")
        assert r.status_code == 200 and "My work" in r.text, r.text


async def test_every_page_has_the_csp_and_no_inline_script_or_style(stack: Stack) -> None:
    ticket = await new_ticket(stack)
    async with browser(stack) as client:
        assert (await client.get("/workspace/login")).headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        for path in (
            "/workspace",
            "/workspace/queue",
            f"/workspace/tickets/{ticket['id']}",
            "/workspace/search?q=charged",
            "/workspace/presence",
            "/workspace/supervisor",
            "/workspace/fragments/my-work",
            f"/workspace/fragments/ticket/{ticket['id']}",
        ):
            r = await client.get(path)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:500]}"
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "<script>" not in r.text and "style=" not in r.text and "<style" not in r.text, path
            assert not re.search(r"\son[a-z]+=", r.text), path


async def test_a_form_without_the_sessions_token_or_from_another_site_is_refused(stack: Stack) -> None:
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        page = (await client.get("/workspace/presence")).text
        good = csrf_of(page)
        r = await client.post("/workspace/presence", data={"presence": "away"})
        assert r.status_code == 403
        r = await client.post("/workspace/presence", data={"presence": "away", "csrf": "0" * 64})
        assert r.status_code == 403
        r = await client.post(
            "/workspace/presence", data={"presence": "away", "csrf": good}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403
        # A token from another session is worthless here.
        async with browser(stack) as other:
            await sign_in(other, token("sup-fin", Role.SUPERVISOR))
            r = await other.post("/workspace/logout", data={"csrf": good})
            assert r.status_code == 403
        r = await client.post("/workspace/logout", data={"csrf": good})
        assert r.status_code == 303 and r.headers["location"] == "/workspace/login"


async def test_an_agent_sees_its_ticket_replies_and_resolves_it_through_the_workspace(stack: Stack) -> None:
    ticket = await new_ticket(stack, subject="Charged twice for March")
    owner = ticket["assignee"]["agent_id"]
    intake = stack.services["intake"].url
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        my_work = (await client.get("/workspace")).text
        assert ticket["number"] in my_work and 'data-live-fragment="/workspace/fragments/my-work' in my_work
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert f'data-live-ticket="{ticket["id"]}"' in page
        assert "Charged twice for March" in page and ticket["customer"]["contact_masked"] in page
        form = {"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "body": "We refund the second charge."}
        r = await client.post(f"/workspace/tickets/{ticket['id']}/reply", data=form)
        assert r.status_code == 303 and r.headers["location"].endswith("done=reply")
        assert "Reply sent." in (await client.get(r.headers["location"])).text
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        r = await client.post(
            f"/workspace/tickets/{ticket['id']}/resolve",
            data={"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "resolution": "Refunded."},
        )
        assert r.status_code == 303
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
        async with httpx.AsyncClient(timeout=30) as http:
            landed = (await http.get(f"{intake}/v1/tickets/{ticket['id']}", headers=admin)).json()
        assert landed["status"] == "resolved"
        assert any(e["kind"] == "reply" and e["body"] == "We refund the second charge." for e in landed["timeline"])
        # Resolved: waiting on the customer is no longer offered, and a forced post shows intake's reason.
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert re.search(r'id="form-wait".*?<fieldset disabled', page, re.S)
        r = await client.post(
            f"/workspace/tickets/{ticket['id']}/wait",
            data={"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "body": "Which card?"},
        )
        assert r.status_code == 409
        assert "cannot wait a ticket that is resolved" in r.text and "ticket_resolved" in r.text


async def test_the_screens_show_real_data_for_a_supervisor(stack: Stack) -> None:
    ticket = await new_ticket(stack, subject="Invoice total wrong")
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        queue = await client.get("/workspace/queue")
        assert queue.status_code == 200 and "Waiting tickets" in queue.text
        r = await client.get("/workspace/search", params={"q": ticket["number"]})
        assert r.status_code == 303 and r.headers["location"] == f"/workspace/tickets/{ticket['id']}"
        found = await client.get("/workspace/search", params={"customer_id": ticket["customer"]["id"]})
        assert ticket["number"] in found.text
        supervisor = await client.get("/workspace/supervisor")
        assert supervisor.status_code == 200 and "Team load and presence" in supervisor.text
        assert ticket["assignee"]["agent_id"] in supervisor.text
        # routing refuses an assignment it cannot make: the page shows its reason.
        r = await client.post(
            "/workspace/supervisor/assign",
            data={"csrf": csrf_of(supervisor.text), "ticket": ticket["number"], "agent_id": "nobody-here"},
        )
        assert 400 <= r.status_code < 500 and 'role="alert"' in r.text


async def test_a_token_the_services_refuse_signs_the_person_out(stack: Stack) -> None:
    # Valid here (signature, expiry), then revoked: the services refuse it with 401.
    routing = stack.services["routing"].url
    raw = token("agent-fin-revoked")
    async with browser(stack) as client:
        assert (await sign_in(client, raw)).status_code == 303
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{routing}/v1/token-revocations", json={"sub": "agent-fin-revoked"}, headers=admin)
            assert r.status_code == 201, r.text

        async def signed_out() -> bool:
            r = await client.get("/workspace")
            return r.status_code == 303 and "session_ended" in r.headers["location"]

        await eventually(signed_out, timeout=20)
        assert COOKIE not in client.cookies


async def test_an_unreachable_service_shows_service_unavailable_not_a_500(stack: Stack) -> None:
    sla = stack.services["sla"]
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        sla.stop()
        try:
            r = await client.get("/workspace/supervisor")
            assert r.status_code == 200 and "sla service is unavailable" in r.text
        finally:
            sla.start()
            sla.wait_ready(timeout=90)
