"""The review counts customers' problems, written from SPEC and issue 22's words: a care contact
or a recovery ticket the loop opened itself is not a problem a customer reported, so it is in no
problem figure (tickets opened, category shares, first-contact resolution, SLA compliance,
complaints, backlog, handling time) and can never make a category hot; those tickets have a
section of their own (made, completed, recovery rate). Resolutions are measured against the time
the customer expected at intake. Every figure a report carries is defined in `GET /v1/metrics`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.builders import Story
from tests.support import RunningService, admin_headers, feed_retrospective, serve
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.rectification import service as rectification
from ticketloop_retrospective.reports.dictionary import BY_NAME, DRILLDOWN, METRICS, REPORT_CONTEXT, defining
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import CareOutcome, ClockKind, Envelope, SurveyKind, TicketOrigin
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
W48 = "2026-W48"
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # 00:00 on the Monday that starts ISO week 2026-W48
CARE, RECOVERY = TicketOrigin.CARE, TicketOrigin.RECOVERY


def at(day: float, hour: int = 0, minute: int = 0) -> datetime:
    """An instant `day` days after the start of 2026-W48."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


@asynccontextmanager
async def retrospective(
    platform: PlatformSettings, new_database: NewDatabase, *, clock: FrozenClock | None = None
) -> AsyncIterator[RunningService]:
    config = RetrospectiveSettings(
        database_url=await new_database("retrospective"), platform=platform, review_check_seconds=3600
    )
    async with serve(create_app(config, clock=clock)) as running:
        yield running


async def get(service: RunningService, path: str, **params: Any) -> Any:
    r = await service.client.get(path, params=params, headers=admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


def care_contact(
    created_at: datetime, *, completed_at: datetime | None, outcome: CareOutcome = CareOutcome.REACHED
) -> list[Envelope]:
    """A care contact the loop opened (category `other`, as care tickets default to), assigned,
    its acknowledgement clock breached, and resolved when the contact was made."""
    story = Story("other", created_at, channel="proactive", customer_id=f"c-care-{uuid.uuid4().hex[:6]}")
    origin: dict[str, Any] = {"origin": CARE, "origin_id": str(uuid.uuid4())}
    events: list[Envelope] = [
        story.created(need="care", **origin),
        story.assigned(created_at + timedelta(minutes=1)),
        story.breached(ClockKind.ACKNOWLEDGEMENT, created_at + timedelta(minutes=30)),
    ]
    if completed_at is not None:
        events.append(story.resolved(completed_at, outcome=outcome, **origin))
    return events


class Week48:
    """Three tickets customers reported, four care contacts and three recovery tickets."""

    def __init__(self) -> None:
        self.on_time = Story("billing", at(0, 9), channel="web")  # expected by 12:00, resolved 10:00
        self.late = Story("logistics_delay", at(1, 9), channel="email")  # expected by 10:00, resolved 11:00
        self.still_open = Story("billing", at(2, 9), channel="app")
        self.recovered = Story("service_attitude", at(3, 9), channel="proactive", customer_id="c-recovered")
        self.still_unhappy = Story("service_attitude", at(3, 10), channel="proactive", customer_id="c-unhappy")
        self.not_yet = Story("service_attitude", at(5, 10), channel="proactive", customer_id="c-waiting")

    def customers(self) -> Iterator[Story]:
        yield from (self.on_time, self.late, self.still_open)

    def events(self) -> list[Envelope]:
        on_time, late = self.on_time, self.late
        events: list[Envelope] = [
            on_time.created(expected_resolution_at=at(0, 12), need="complaint"),
            on_time.assigned(at(0, 9, 1)),
            on_time.replied(at(0, 9, 10)),
            on_time.met(ClockKind.FIRST_RESPONSE, at(0, 9, 10)),
            on_time.resolved(at(0, 10), first_response_at=at(0, 9, 10)),
            late.created(expected_resolution_at=at(1, 10)),
            late.replied(at(1, 9, 30)),
            late.breached(ClockKind.RESOLUTION, at(1, 11)),
            late.resolved(at(1, 11), first_response_at=at(1, 9, 30)),
            self.still_open.created(),
        ]
        outcomes = (CareOutcome.REACHED, CareOutcome.REACHED, CareOutcome.NO_ANSWER)
        for day, outcome in zip((0, 1, 2), outcomes, strict=True):
            events += care_contact(at(day, 8), completed_at=at(day, 8, 45), outcome=outcome)
        events += care_contact(at(4, 8), completed_at=None)
        for story, resolved_at in ((self.recovered, at(3, 12)), (self.still_unhappy, at(3, 13)), (self.not_yet, None)):
            origin: dict[str, Any] = {"origin": RECOVERY, "origin_id": str(uuid.uuid4())}
            events.append(story.created(need="complaint", **origin))
            if resolved_at is not None:
                events.append(story.resolved(resolved_at, **origin))
        # After their recovery: one customer answers happily, the other gives a low score again.
        events.append(self.recovered.answered_v2(at(4, 10), csat=None, kind=SurveyKind.QUARTERLY, nps=9))
        unhappy = self.still_unhappy.answered_v2(at(5, 9), csat=None, kind=SurveyKind.QUARTERLY, nps=2)
        low = self.still_unhappy.low_score(at(5, 9))
        low = low.model_copy(update={"data": low.data.model_copy(update={"survey_id": unhappy.data.survey_id})})
        return [*events, unhappy, low]


async def test_care_contacts_and_recovery_tickets_are_counted_apart_from_customers_problems(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    week = Week48()
    async with retrospective(platform, new_database) as service:
        await feed_retrospective(service, platform, week.events())
        report = await get(service, "/v1/reports/weekly", week=W48)

        # Only the three problems customers reported are tickets opened, resolved, in backlog.
        assert (report["tickets_opened"], report["tickets_resolved"]) == (3, 2)
        assert report["backlog"] == {"at_start": 0, "at_end": 1, "flow": 1}
        assert report["categories"] == [
            {"category": "billing", "pain_class": "process", "tickets": 2, "share_pct": 66.7},
            {"category": "logistics_delay", "pain_class": "process", "tickets": 1, "share_pct": 33.3},
        ]
        assert report["first_contact_resolution_pct"] == 100.0
        assert report["repeat_complaint_rate_pct"] == 0.0
        assert report["handling_time"]["count"] == 1  # the care contacts had owners too: not counted
        # The care contacts' breached acknowledgement clocks are not the customers' SLA.
        assert (report["sla"]["met"], report["sla"]["breached"], report["sla"]["compliance_pct"]) == (1, 1, 50.0)
        assert {g["key"] for g in report["sla"]["by_metric"]} == {"first_response", "resolution"}
        headline = {g["goal"]: g for g in report["headline"]}
        # one complaint of the customers' own; the three recovery tickets (need complaint) are not
        assert headline["complaints"]["current"] == 1.0
        assert {p["category"] for p in report["priorities"]} == {"billing", "logistics_delay"}

        # Care and recovery have their own section.
        assert report["proactive"] == {
            "care": {"made": 4, "completed": 3, "outcomes": {"reached": 2, "no_answer": 1}},
            "recovery": {
                "opened": 3,
                "resolved": 2,
                "recovery_rate_pct": 66.7,
                "next_answers": 2,
                "no_longer_low": 1,
                "no_longer_low_pct": 50.0,
            },
        }

        # The customer's expected time: one resolved two hours early, one an hour late.
        assert report["expected_resolution"] == {
            "tickets": 2,
            "resolved_by_expected": 1,
            "resolved_by_expected_pct": 50.0,
            "median_gap_minutes": -30.0,
            "average_gap_minutes": -30.0,
        }

        async def listed(metric: str, **extra: str) -> set[str]:
            page = await get(service, "/v1/reports/tickets", period=W48, metric=metric, **extra)
            return {t["number"] for t in page["items"]}

        customers = {s.number for s in week.customers()}
        assert await listed("tickets_opened") == customers
        assert await listed("tickets_opened", category="other") == set()
        assert await listed("sla_breached") == {week.late.number}
        assert await listed("sla_breached", clock="acknowledgement") == set()
        assert await listed("expected_resolution") == {week.on_time.number, week.late.number}
        assert await listed("expected_resolution_missed") == {week.late.number}
        assert len(await listed("care_contacts_made")) == 4
        assert len(await listed("care_contacts_completed")) == 3
        assert await listed("recovery_tickets_opened") == {
            week.recovered.number,
            week.still_unhappy.number,
            week.not_yet.number,
        }
        assert await listed("recovery_rate") == {week.recovered.number, week.still_unhappy.number}

        walk_against_dictionary(report)
        # Every link the report gives answers with its metric.
        for metric, link in report["drilldown"].items():
            r = await service.client.get(link, headers=admin_headers())
            assert r.status_code == 200 and r.json()["metric"] == metric, link

        # The dictionary, as published, says for each figure which tickets it counts.
        published = {m["name"]: m for m in (await get(service, "/v1/metrics"))["items"]}
        assert set(published) == set(BY_NAME)
        assert {"complaints", "sla_met", "sla_breached", "expected_resolution", "recovery_rate"} <= set(published)
        for name, m in published.items():
            assert m["counts"] and m["definition"], name
            assert m["figures"] == list(BY_NAME[name].figures), name
        for name in ("tickets_opened", "first_contact_resolution", "sla_compliance", "hot_category", "complaints"):
            assert "customer-initiated" in published[name]["definition"].lower(), name
            assert "care contacts and recovery tickets are not counted" in published[name]["counts"], name


def leaves(value: Any, path: str = "") -> Iterator[str]:
    """Every figure's path in a report's JSON, list items as `[]` (an empty list is its own leaf)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if not value:
            yield f"{path}[]"
        for item in value:
            yield from leaves(item, f"{path}[]")
    else:
        yield path


def walk_against_dictionary(report: dict[str, Any]) -> None:
    """Every figure of `report` is defined by a metric of the dictionary, every metric's figure
    paths are in the report, every drill-down and measured headline goal is a metric."""
    figures = {key: value for key, value in report.items() if key not in REPORT_CONTEXT}
    paths = list(leaves(figures))
    undefined = [p for p in paths if defining(p) is None]
    assert undefined == [], f"figures the dictionary does not define: {undefined}"
    for m in METRICS:
        for figure in m.figures:
            assert any(p == figure or p.startswith((f"{figure}.", f"{figure}[")) for p in paths), (m.name, figure)
    assert set(report["drilldown"]) == DRILLDOWN and DRILLDOWN <= set(BY_NAME)
    for goal in report["headline"]:
        unmeasured = goal["current"] is None and goal["note"]
        assert goal["goal"] in BY_NAME or unmeasured, goal["goal"]


def week_of(monday: datetime, mix: dict[str, int], *, care: int) -> list[Envelope]:
    """`mix` customer tickets per category opened in the week of `monday`, and `care` care
    contacts (category `other`) the loop opened and completed the same week."""
    events: list[Envelope] = []
    hour = 0
    for category, count in mix.items():
        for _ in range(count):
            story = Story(category, monday + timedelta(hours=8 + hour), customer_id=f"c-{uuid.uuid4().hex[:8]}")
            events += [story.created(), story.assigned(monday + timedelta(hours=8 + hour, minutes=5))]
            hour += 1
    for n in range(care):
        opened = monday + timedelta(days=1, hours=n)
        events += care_contact(opened, completed_at=opened + timedelta(minutes=20))
    return events


async def test_a_care_cadence_alone_cannot_make_other_hot_nor_open_a_rectification(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    # Customers report a steady, even mix; `other` is 1 of their 9 tickets a week (11 %, under
    # the 30 % threshold). The care cadence adds 8 `other` contacts a week: counted as problems,
    # `other` would be 9 of 17 (53 %) three weeks running.
    mix = {"billing": 2, "account": 2, "logistics_delay": 2, "product_quality": 2, "other": 1}
    weeks = [MONDAY - timedelta(weeks=n) for n in (3, 2, 1)]  # W45, W46, W47
    clock = FrozenClock(MONDAY + timedelta(hours=1))  # W48 began: W45–W47 are complete
    async with retrospective(platform, new_database, clock=clock) as service:
        await feed_retrospective(service, platform, [e for monday in weeks for e in week_of(monday, mix, care=8)])
        async with service.runtime.unit_of_work() as uow:
            assert await rectification.review_last_week(uow) == []
        assert (await get(service, "/v1/rectifications"))["items"] == []

        report = await get(service, "/v1/reports/weekly", week="2026-W47")
        shares = {c["category"]: c["share_pct"] for c in report["categories"]}
        assert shares == {
            "billing": 22.2,
            "account": 22.2,
            "logistics_delay": 22.2,
            "product_quality": 22.2,
            "other": 11.1,
        }
        assert (report["tickets_opened"], report["proactive"]["care"]["made"]) == (9, 8)

        quiet = await get(service, "/v1/reports/weekly", week="2026-W44")
        assert quiet["proactive"] == {
            "care": {"made": 0, "completed": 0, "outcomes": {}},
            "recovery": {
                "opened": 0,
                "resolved": 0,
                "recovery_rate_pct": None,
                "next_answers": 0,
                "no_longer_low": 0,
                "no_longer_low_pct": None,
            },
        }
        assert quiet["expected_resolution"] == {
            "tickets": 0,
            "resolved_by_expected": 0,
            "resolved_by_expected_pct": None,
            "median_gap_minutes": None,
            "average_gap_minutes": None,
        }
