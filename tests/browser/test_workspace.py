"""The staff workspace in a real headless Chromium (Debian's, driven by Playwright), against real
intake, routing and sla on a real PostgreSQL and broker: an agent signs in with the keyboard alone,
a ticket a channel posts appears in My work without a reload, the agent opens it, replies, sees
the customer's answer arrive live and resolves it; a supervisor transfers a ticket and the other
department's agent sees it arrive. Every screen passes axe-core with no serious or critical
violation, and nothing breaks the page's CSP (no inline script, no refused resource).

`TICKETLOOP_WORKSPACE_SCREENSHOTS=docs` also saves `workspace-my-work.png` and
`workspace-ticket.png` there (`make workspace-screenshots`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.browser.test_dashboard import chromium
from tests.support import (
    TEST_SECRET,
    RunningService,
    admin_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    serve,
)
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings
from ticketloop_workspace.app import create_app as create_workspace
from ticketloop_workspace.settings import WorkspaceSettings

NewDatabase = Callable[[str], Awaitable[str]]
SCREENSHOTS = os.environ.get("TICKETLOOP_WORKSPACE_SCREENSHOTS")
ORG: dict[str, Any] = {
    "fallback_department": "finance",
    "departments": [
        {"id": "finance", "name": "Finance", "supervisor": "sup-fin"},
        {"id": "technical", "name": "Technical", "supervisor": "sup-tech"},
    ],
    "agents": [
        {"id": "fin-1", "name": "Ravi Iyer", "department": "finance"},
        {"id": "tech-1", "name": "Mei Lin", "department": "technical"},
    ],
    "categories": {"billing": "finance", "product_quality": "technical"},
}


def token(sub: str, role: Role, department: str) -> str:
    return issue_token(TEST_SECRET, sub=sub, role=role, name=sub, department=department, ttl_seconds=3600)


@dataclass
class Stack:
    intake: RunningService
    routing: RunningService
    workspace: RunningService

    @property
    def home(self) -> str:
        return f"{self.workspace.url}/workspace"

    async def post_ticket(self, **overrides: Any) -> dict[str, Any]:
        r = await self.intake.client.post(
            "/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers()
        )
        assert r.status_code == 201, r.text
        ticket: dict[str, Any] = r.json()
        return ticket


@asynccontextmanager
async def running(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(
            serve(create_intake(IntakeSettings(database_url=await new_database("intake"), platform=platform)))
        )
        routing = await stack.enter_async_context(
            serve(
                create_routing(
                    RoutingSettings(
                        database_url=await new_database("routing"), platform=platform, away_sweep_seconds=3600
                    )
                )
            )
        )
        sla = await stack.enter_async_context(
            serve(create_sla(SlaSettings(database_url=await new_database("sla"), platform=platform)))
        )
        etag = (await routing.client.get("/v1/organisation", headers=admin_headers())).headers["ETag"]
        r = await routing.client.put("/v1/organisation", json=ORG, headers={**admin_headers(), "If-Match": etag})
        assert r.status_code == 200, r.text
        settings = WorkspaceSettings(
            intake_url=intake.url,
            routing_url=routing.url,
            sla_url=sla.url,
            # Not started: no screen of this test reads them.
            feedback_url="http://127.0.0.1:9",
            retrospective_url="http://127.0.0.1:9",
            platform=platform,
        )
        workspace = await stack.enter_async_context(serve(create_workspace(settings)))
        yield Stack(intake=intake, routing=routing, workspace=workspace)


class Watched:
    """A browser tab whose console errors, page errors and CSP refusals are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))


async def open_tab(browser: Browser) -> tuple[BrowserContext, Watched]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return context, Watched(await context.new_page())


async def tab_to(page: Page, selector: str, *, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus (keyboard only)."""
    target = page.locator(selector)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{selector} never got the focus within {limit} Tab presses")


async def sign_in_with_keyboard(page: Page, home: str, staff_token: str) -> None:
    await page.goto(home)
    assert "/workspace/login" in page.url
    await tab_to(page, "#token")
    await page.keyboard.insert_text(staff_token)
    await tab_to(page, "#sign-in")
    await page.keyboard.press("Enter")
    await page.wait_for_url(home)


async def sign_in(page: Page, home: str, staff_token: str) -> None:
    await page.goto(home)
    await page.fill("#token", staff_token)
    await page.click("#sign-in")
    await page.wait_for_url(home)


async def mark(page: Page) -> None:
    """Leave a mark in the page's memory: still there later, the page was never reloaded."""
    await page.evaluate("window.__notReloaded = true")


async def not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.__notReloaded === true"))


async def accessible(page: Page, axe: Axe, screen: str) -> None:
    """axe-core finds no serious or critical violation on this screen."""
    results = await axe.run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{screen}: {bad}"


async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


async def test_an_agents_day_and_a_transfer_live_in_the_browser(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    executable = chromium()
    axe = Axe()
    async with running(platform, new_database) as stack, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context, agent = await open_tab(browser)
            page = agent.page

            # The sign-in screen, then signing in with the keyboard alone.
            await page.goto(stack.home)
            await accessible(page, axe, "sign in")
            await sign_in_with_keyboard(page, stack.home, token("fin-1", Role.AGENT, "finance"))
            [cookie] = await context.cookies()
            assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("ticketloop_workspace", True, "Strict")
            assert await page.evaluate("document.cookie") == ""

            # A channel posts a billing ticket: routing gives it to fin-1, and My work shows it
            # without a reload.
            await mark(page)
            ticket = await stack.post_ticket(subject="Charged twice", description="Card charged twice for 1234.")
            row = page.locator(f"#ticket-row-{ticket['id']}")
            await row.wait_for(timeout=20_000)
            assert await not_reloaded(page)
            assert ticket["number"] in await row.inner_text()
            await accessible(page, axe, "my work")
            await shot(page, "workspace-my-work.png")

            # Open it with the keyboard, reply with the keyboard.
            await tab_to(page, f"#ticket-row-{ticket['id']} a")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{stack.home}/tickets/{ticket['id']}")
            await accessible(page, axe, "ticket")
            await tab_to(page, "#reply-body")
            await page.keyboard.insert_text("We refunded the second charge; it shows within 3 days.")
            await tab_to(page, "#submit-reply")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{stack.home}/tickets/{ticket['id']}**")
            timeline = page.locator("#timeline")
            await timeline.get_by_text("We refunded the second charge").wait_for()

            # The customer answers through the channel: it appears on the open page, live.
            await mark(page)
            r = await stack.intake.client.post(
                f"/v1/tickets/{ticket['id']}/messages",
                json={"body": "Thank you, I can see the refund pending."},
                headers=channel_headers(),
            )
            assert r.status_code == 201, r.text
            await timeline.get_by_text("I can see the refund pending").wait_for(timeout=20_000)
            assert await not_reloaded(page)
            await shot(page, "workspace-ticket.png")

            # Resolve.
            await page.fill("#resolve-body", "Refunded the duplicate charge.")
            await page.click("#submit-resolve")
            await page.locator("#ticket-status").get_by_text("resolved", exact=False).wait_for()

            # The other screens, as this agent.
            for screen in ("queue", "search", "presence"):
                await page.click(f"#nav-{screen}")
                await page.wait_for_url(f"{stack.home}/{screen}")
                await accessible(page, axe, screen)

            # A supervisor transfers a finance ticket to technical; technical's agent, watching
            # My work, sees it arrive.
            tech_context, tech = await open_tab(browser)
            await sign_in(tech.page, stack.home, token("tech-1", Role.AGENT, "technical"))
            await mark(tech.page)
            moved = await stack.post_ticket(subject="Invoice address wrong", description="Wrong address on it.")
            sup_context, supervisor = await open_tab(browser)
            await sign_in(supervisor.page, stack.home, token("sup-fin", Role.SUPERVISOR, "finance"))
            await supervisor.page.click("#nav-supervisor")
            await supervisor.page.wait_for_url(f"{stack.home}/supervisor")
            await accessible(supervisor.page, axe, "supervisor")
            await _assigned_to(stack, moved, "fin-1")
            await supervisor.page.fill("#transfer-ticket", moved["number"])
            await supervisor.page.select_option("#transfer-department", "technical")
            await supervisor.page.fill("#transfer-note", "The address comes from the product team's form.")
            await supervisor.page.click("#transfer-submit")
            await supervisor.page.locator("#done").wait_for()
            await tech.page.locator(f"#ticket-row-{moved['id']}").wait_for(timeout=20_000)
            assert await not_reloaded(tech.page)

            for watched in (agent, tech, supervisor):
                assert not watched.problems, watched.problems  # CSP refusals show up here
            for ctx in (context, tech_context, sup_context):
                await ctx.close()
        finally:
            await browser.close()


async def _assigned_to(stack: Stack, ticket: dict[str, Any], agent: str) -> None:
    """Wait until routing has given the ticket to `agent` (a transfer needs it placed first)."""

    async def placed() -> bool:
        r = await stack.routing.client.get(f"/v1/assignments/{ticket['id']}", headers=admin_headers())
        return r.status_code == 200 and r.json().get("agent_id") == agent

    await eventually(placed)
