"""The review's HTML dashboard over real HTTP, a real PostgreSQL and broker: staff sign in with the
API's own tokens (and nothing else gets in), the page shows the figures of the events fed, every
drill-down link lists exactly the tickets behind its figure, and nothing a channel typed is ever
markup."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from markupsafe import escape

from tests.builders import Story, create_token_revoked
from tests.support import (
    TEST_SECRET,
    RunningService,
    admin_headers,
    eventually,
    publish,
    publish_and_apply,
    serve,
)
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.dashboard.domain import CONTENT_SECURITY_POLICY
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import ClockKind, Envelope
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # ISO week 2026-W48
EVIL = '<img src=x onerror="alert(1)">'
FIRST_RESPONSE = ClockKind.FIRST_RESPONSE


def at(day: float, hour: int = 9, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def token(role: Role = Role.SUPERVISOR, *, sub: str = "sup-1", ttl: int = 3600, now: float | None = None) -> str:
    department = "finance" if role in (Role.AGENT, Role.SUPERVISOR) else None
    return issue_token(TEST_SECRET, sub=sub, role=role, department=department, ttl_seconds=ttl, now=now)


@asynccontextmanager
async def dashboard(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    """retrospective on a clock in the middle of 2026-W48."""
    config = RetrospectiveSettings(
        database_url=await new_database("retrospective"), platform=platform, review_check_seconds=3600
    )
    async with serve(create_app(config, clock=FrozenClock(at(3, 12)))) as running:
        yield running


async def feed(service: RunningService, platform: PlatformSettings, events: Sequence[Envelope]) -> None:
    """Publish `events` and wait until each one has been applied."""
    await publish_and_apply(service, platform, events)


class Tickets:
    """A week of tickets with known numbers: two billing, one logistics, one whose category a
    channel typed as markup, and one the week before."""

    def __init__(self) -> None:
        self.paid = Story("billing", at(0), channel="web")
        self.late = Story("billing", at(1), channel="email")
        self.lost = Story("logistics_delay", at(2), channel="app")
        self.evil = Story(EVIL, at(2, 15), channel="web")
        self.before = Story("billing", at(-3), channel="web")

    def events(self) -> list[Envelope]:
        p, late, lost = self.paid, self.late, self.lost
        return [
            p.created(),
            p.assigned(at(0, 9, 1), department="finance"),
            p.replied(at(0, 9, 10)),
            p.met(FIRST_RESPONSE, at(0, 9, 10)),
            p.resolved(at(0, 10)),
            p.answered(at(1, 10), csat=5, nps=10),
            late.created(),
            late.breached(FIRST_RESPONSE, at(1, 9, 15)),
            late.replied(at(1, 9, 40)),
            late.resolved(at(1, 12)),
            late.answered(at(2, 10), csat=2, nps=3),
            lost.created(),
            lost.assigned(at(2, 9, 2), department="supply_chain"),
            lost.met(FIRST_RESPONSE, at(2, 9, 5)),
            self.evil.created(),
            self.before.created(),
        ]


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"ticketloop_staff={value}"}


async def page(service: RunningService, path: str, value: str, **params: Any) -> str:
    r = await service.client.get(path, params=params or None, headers=cookie(value))  # {} would drop path's query
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def numbers_listed(text: str) -> set[str]:
    table = text.split('<table id="tickets">', 1)[1].split("</table>", 1)[0] if 'id="tickets"' in text else ""
    return set(re.findall(r"<tr><td>(T\d+)</td>", table))


def links(text: str, pattern: str) -> list[str]:
    """The distinct hrefs of the page matching `pattern` (a figure may link from its tile, its chart
    and its table alike), unescaped as a browser follows them."""
    found = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)}
    return sorted(h for h in found if re.search(pattern, h))


async def test_staff_sign_in_with_their_token_and_nobody_else_gets_in(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    async with dashboard(platform, new_database) as service, httpx.AsyncClient(base_url=service.url) as browser:
        # Without a cookie every page sends the visitor to the login, remembering where it was.
        r = await browser.get("/dashboard", params={"period": "2026-W48"})
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/login?next=%2Fdashboard%3Fperiod%3D2026-W48"
        for path in ("/dashboard/tickets?metric=tickets_opened", "/dashboard/tickets.csv?metric=csat"):
            assert (await browser.get(path)).status_code == 303
        form = await browser.get(r.headers["location"])
        assert form.status_code == 200 and '<textarea id="token" name="token"' in form.text
        assert 'name="next" value="/dashboard?period=2026-W48"' in form.text
        assert form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert form.headers["x-content-type-options"] == "nosniff"

        async def sign_in(value: str, **extra: str) -> httpx.Response:
            return await browser.post("/dashboard/login", data={"token": value, **extra})

        # Refused: a forged, an expired and a notifier token; a form posted from another site.
        for value, status, says in (
            ("tl1.forged.token", 401, "not valid"),
            (token(ttl=60, now=datetime.now(UTC).timestamp() - 3600), 401, "expired"),
            (token(Role.NOTIFIER, sub="mailer"), 403, "notifier token cannot open"),
            ("", 400, "Paste a staff token"),
        ):
            r = await sign_in(value)
            assert (r.status_code, "set-cookie" in r.headers) == (status, False), value
            assert says in r.text
        r = await browser.post("/dashboard/login", data={"token": token()}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers

        # A supervisor's token: a cookie only scripts cannot read, for the dashboard only.
        good = token()
        r = await sign_in(good, next="/dashboard?period=2026-W48")
        assert (r.status_code, r.headers["location"]) == (303, "/dashboard?period=2026-W48")
        set_cookie = r.headers["set-cookie"]
        assert set_cookie.startswith(f"ticketloop_staff={good};")
        assert {"HttpOnly", "Path=/dashboard", "SameSite=strict"} <= {p.strip() for p in set_cookie.split(";")}
        assert "Secure" not in set_cookie  # plain http here; https gets Secure
        assert good not in r.headers["location"]
        r = await browser.get("/dashboard", params={"period": "2026-W48"})
        assert r.status_code == 200 and "Week 2026-W48" in r.text and "sup-1" in r.text
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["cache-control"] == "no-store"
        # The cookie opens pages, never the JSON API, which takes bearer headers only.
        assert (await browser.get("/v1/reports/weekly", params={"week": "2026-W48"})).status_code == 401
        # A return address to another site is ignored.
        r = await sign_in(good, next="//evil.example/dashboard")
        assert r.headers["location"] == "/dashboard"

        # Behind TLS the cookie is Secure too.
        r = await browser.post("/dashboard/login", data={"token": good}, headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in {p.strip() for p in r.headers["set-cookie"].split(";")}

        # Signing out takes the page's CSRF token and a form from this site: another site cannot
        # sign a supervisor out (the cross-site post carries no token, or the wrong Origin).
        signed_in_page = await page(service, "/dashboard", good)
        found = re.search(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">', signed_in_page)
        assert found is not None
        form_token = found[1]
        for extra, data in (
            ({"Origin": "https://evil.example"}, {"csrf": form_token}),
            ({}, {}),
            ({}, {"csrf": "0" * 64}),
        ):
            r = await service.client.post("/dashboard/logout", data=data, headers={**cookie(good), **extra})
            assert r.status_code == 403 and "set-cookie" not in r.headers, (extra, data)
        same_site = {**cookie(good), "Origin": service.url}
        r = await service.client.post("/dashboard/logout", data={"csrf": form_token}, headers=same_site)
        assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]

        # Signing out forgets the cookie.
        r = await browser.post("/dashboard/logout")
        assert (r.status_code, r.headers["location"]) == (303, "/dashboard/login")
        assert r.headers["set-cookie"].startswith('ticketloop_staff="";') and "Max-Age=0" in r.headers["set-cookie"]
        assert (await browser.get("/dashboard")).status_code == 303

        # A bearer header works as well (scripts, curl); a bad one is sent to the login.
        r = await service.client.get("/dashboard", headers=admin_headers())
        assert r.status_code == 200
        r = await service.client.get("/dashboard", headers={"Authorization": "Bearer nonsense"})
        assert r.status_code == 303

        # A token revoked after sign-in stops working at the next page, and its cookie is dropped.
        leaked = token(sub="agent-gone")
        assert (await service.client.get("/dashboard", headers=cookie(leaked))).status_code == 200
        await publish(platform, create_token_revoked(datetime.now(UTC) + timedelta(seconds=1), sub="agent-gone"))

        async def refused() -> httpx.Response | None:
            r = await service.client.get("/dashboard", headers=cookie(leaked))
            return r if r.status_code == 303 else None

        r = await eventually(refused, timeout=10)
        assert r.headers["set-cookie"].startswith('ticketloop_staff="";')


async def test_the_dashboard_shows_the_figures_of_the_events_and_escapes_what_channels_typed(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    tickets = Tickets()
    async with dashboard(platform, new_database) as service:
        await feed(service, platform, tickets.events())
        good = token(Role.ADMIN, sub="admin-1")  # every department's figures
        text = await page(service, "/dashboard", good)  # this week on the service's clock
        assert "<h1>Week 2026-W48</h1>" in text

        def tile(name: str) -> str:
            found = re.search(rf'<span class="figure">([^<]*)</span><span class="name">{re.escape(name)}</span>', text)
            assert found, name
            return found.group(1)

        assert tile("Tickets opened") == "4"
        assert tile("Tickets resolved") == "2"
        assert tile("Backlog at end") == "3"  # lost, evil and the week before's
        assert tile("SLA compliance") == "66.7 %"  # two first responses met, one breached
        assert tile("CSAT (1–5)") == "3.5"
        assert tile("NPS") == "0"  # one promoter, one detractor
        # Charts: three trend lines, categories, SLA per metric, the NPS split, the matrix.
        assert text.count('<svg class="chart line"') == 3
        for kind in ("bars", "stacked", "matrix"):
            assert f'<svg class="chart {kind}"' in text
        assert 'role="img" aria-label="Tickets opened per category: billing 2, ' in text
        # The trend ends on this week: W47 had one ticket opened, W48 four.
        assert (
            "opened 2026-W41 0, 2026-W42 0, 2026-W43 0, 2026-W44 0, 2026-W45 0, 2026-W46 0, 2026-W47 1, 2026-W48 4"
            in (text)
        )

        # What a channel typed as a category is text, wherever it shows.
        assert EVIL not in text and "<img" not in text
        assert escape(EVIL) in text  # the template engine's escaping

        # Filters cut every figure, and the monthly view counts the month.
        filtered = await page(service, "/dashboard", good, period="2026-W48", channel="web", category="")
        assert re.search(r'<span class="figure">2</span><span class="name">Tickets opened</span>', filtered)
        assert 'name="channel" value="web"' in filtered
        month = await page(service, "/dashboard", good, period="2026-11")
        assert "<h1>Month 2026-11</h1>" in month
        assert re.search(r'<span class="figure">5</span><span class="name">Tickets opened</span>', month)

        r = await service.client.get("/dashboard", params={"period": "2026-W60"}, headers=cookie(good))
        assert r.status_code == 422 and "no ISO week 60" in r.text


async def test_every_drill_down_link_lists_exactly_the_tickets_behind_its_figure(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    t = Tickets()
    async with dashboard(platform, new_database) as service:
        await feed(service, platform, t.events())
        good = token(Role.ADMIN, sub="admin-1")  # every department's tickets
        text = await page(service, "/dashboard", good, period="2026-W48")

        async def listed(link: str) -> set[str]:
            return numbers_listed(await page(service, link, good))

        [billing] = links(text, r"^/dashboard/tickets\?.*metric=tickets_opened.*category=billing")
        assert await listed(billing) == {t.paid.number, t.late.number}
        [evil] = links(text, r"metric=tickets_opened.*category=%3Cimg")
        assert await listed(evil) == {t.evil.number}
        [breached] = links(text, r"metric=sla_breached&clock=first_response")
        assert await listed(breached) == {t.late.number}
        [met] = links(text, r"metric=sla_met&clock=first_response")
        assert await listed(met) == {t.paid.number, t.lost.number}
        [opened] = links(text, r"period=2026-W48&metric=tickets_opened$")
        assert await listed(opened) == {t.paid.number, t.late.number, t.lost.number, t.evil.number}
        [w47] = links(text, r"period=2026-W47&metric=tickets_opened$")  # a point of the trend line
        assert await listed(w47) == {t.before.number}
        [backlog] = links(text, r"metric=backlog_end")
        assert await listed(backlog) == {t.lost.number, t.evil.number, t.before.number}

        # Pages follow each other through "next" without overlap, and the CSV has them all.
        first = await page(service, "/dashboard/tickets", good, period="2026-W48", metric="tickets_opened", limit=3)
        [after] = links(first, r"after=")
        second = await page(service, after, good)
        assert len(numbers_listed(first)) == 3 and len(numbers_listed(second)) == 1
        assert numbers_listed(first) | numbers_listed(second) == await listed(opened)
        [download] = links(first, r"^/dashboard/tickets\.csv")
        r = await service.client.get(download, headers=cookie(good))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert {row["number"] for row in csv.DictReader(io.StringIO(r.text))} == await listed(opened)

        r = await service.client.get("/dashboard/tickets", params={"metric": "nps"}, headers=cookie(good))
        assert r.status_code == 422 and "counts no tickets" in html.unescape(r.text)


async def test_open_rectification_items_are_listed_and_open_on_their_own_page(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    async with dashboard(platform, new_database) as service:
        supervisor = {"Authorization": f"Bearer {token()}"}
        r = await service.client.post(
            "/v1/rectifications",
            json={"category": "billing", "title": f"Refunds {EVIL}", "owner_department": "finance"},
            headers=supervisor,
        )
        assert r.status_code == 201, r.text
        item = r.json()
        text = await page(service, "/dashboard", token())
        [detail] = links(text, r"^/dashboard/rectifications/")
        assert detail == f"/dashboard/rectifications/{item['id']}"
        assert f"Refunds {escape(EVIL)}" in text and EVIL not in text
        shown = await page(service, detail, token())
        assert "finance" in shown and EVIL not in shown
        r = await service.client.get("/dashboard/rectifications/not-an-id", headers=cookie(token()))
        assert r.status_code == 404


def test_the_dashboard_is_not_part_of_the_api_document() -> None:
    paths = create_app().openapi()["paths"]
    assert not [p for p in paths if p.startswith("/dashboard")]
