"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): an admin (who sees
every department's figures; a supervisor sees its own department's) signs in through the form,
the page loads without a blocked style, every chart draws with a real size, and following a bar
of the chart lists exactly the tickets behind it.

Chromium is a system package, not downloaded by Playwright: `make test` installs it with apt when
`/usr/bin/chromium` is missing (`TICKETLOOP_CHROMIUM` points elsewhere). Without it this test
fails and says so; it is never skipped. `TICKETLOOP_DASHBOARD_SCREENSHOT=docs/dashboard.png`
also saves the screenshot there (`make dashboard-screenshot`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from tests.browser.demo import demo
from tests.support import TEST_SECRET, RunningService, eventually, publish, serve
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.rectification import service as rectification
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
CHROMIUM = os.environ.get("TICKETLOOP_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("TICKETLOOP_DASHBOARD_SCREENSHOT")
W41 = datetime(2026, 10, 5, tzinfo=UTC)  # eight weeks: W41 … W48
W48 = W41 + timedelta(weeks=7)
NOW = W48 + timedelta(days=3, hours=16)  # Thursday afternoon of W48


def chromium() -> str:
    """The system Chromium, or a failure that says how to get it."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `make test-browser` (and `make test`) installs Debian's "
            "`chromium` package with apt-get; or set TICKETLOOP_CHROMIUM to a Chromium binary"
        )
    return CHROMIUM


async def fed(service: RunningService, platform: PlatformSettings) -> set[str]:
    """Feed the demo weeks, run the weekly review, return W48's billing ticket numbers."""
    story = demo(W41, NOW)
    consumer = service.runtime.consumer
    assert consumer is not None
    target = consumer.handled + len(story.events)
    await publish(platform, *story.events)
    await eventually(lambda: consumer.handled >= target, timeout=120)
    async with service.runtime.unit_of_work() as uow:
        opened = await rectification.review_last_week(uow)
    assert [item.category for item in opened] == ["logistics_delay"]  # hot W45–W47
    return story.numbers(category="billing", since=W48, until=W48 + timedelta(weeks=1))


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/dashboard")
    assert page.url.startswith(f"{base}/dashboard/login?next=")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/dashboard")


async def test_an_admin_signs_in_sees_the_charts_and_drills_into_a_bar(
    platform: PlatformSettings, new_database: NewDatabase, tmp_path: Path
) -> None:
    executable = chromium()
    config = RetrospectiveSettings(
        database_url=await new_database("retrospective"), platform=platform, review_check_seconds=3600
    )
    token = issue_token(
        TEST_SECRET,
        sub="admin-ana",
        name="Ana (admin)",
        role=Role.ADMIN,
        ttl_seconds=3600,
    )
    async with serve(create_app(config, clock=FrozenClock(NOW))) as service:
        billing = await fed(service, platform)
        assert billing, "the demo has billing tickets in W48"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                problems: list[str] = []
                page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: problems.append(str(e)))

                await sign_in(page, service.url, token)
                assert await page.title() == "Week 2026-W48 · ticketloop review"
                [cookie] = await context.cookies()
                assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("ticketloop_staff", True, "Strict")
                assert await page.evaluate("document.cookie") == ""  # no script can read the token

                # The charts draw: each is laid out with a real size, and so are its marks.
                charts = page.locator("svg.chart")
                assert await charts.count() == 7  # 3 trends, categories, SLA, NPS, matrix
                for n in range(await charts.count()):
                    box = await charts.nth(n).bounding_box()
                    label = await charts.nth(n).get_attribute("aria-label")
                    assert box and box["width"] > 100 and box["height"] > 40, label
                    assert label and "no data" not in label
                for mark in (
                    "svg.line circle.point",
                    "svg.bars rect.bar",
                    "svg.stacked rect.part",
                    "svg.matrix g.problem",
                ):
                    box = await page.locator(mark).first.bounding_box()
                    assert box and box["width"] > 0 and box["height"] > 0, mark
                # The inline stylesheet applied under the page's CSP (a refused one leaves the tiles unstyled).
                grid = await page.locator(".tiles").evaluate("e => getComputedStyle(e).display")
                assert grid == "grid"
                assert (
                    await page.locator("#rectifications a").first.inner_text()
                    == "logistics_delay hot for 3 weeks in a row"
                )

                shot = tmp_path / "dashboard.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                if SCREENSHOT:
                    Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(shot, SCREENSHOT)

                # Click the billing bar: the drill-down lists exactly W48's billing tickets.
                await page.locator('svg.bars a[href*="category=billing"]').click()
                await page.wait_for_url("**/dashboard/tickets?**")
                assert "Tickets opened · 2026-W48" in await page.locator("h1").inner_text()
                listed = await page.locator("#tickets tr td:first-child").all_inner_texts()
                assert sorted(listed) == sorted(billing)

                # Back, and into a trend point: last week's opened tickets.
                await page.go_back()
                await page.locator('svg.line a[href*="period=2026-W47&metric=tickets_opened"]').click()
                await page.wait_for_url("**/dashboard/tickets?period=2026-W47**")
                assert await page.locator("#tickets tr td:first-child").count() > 0

                # Signing out ends the session in this browser.
                await page.click("header button")
                await page.wait_for_url("**/dashboard/login")
                await page.goto(f"{service.url}/dashboard")
                assert "/dashboard/login" in page.url
                assert not problems, problems
            finally:
                await browser.close()
