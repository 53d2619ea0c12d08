"""The dashboard's pages, rendered without a server: whatever a channel, a supervisor or a token
put into a page — category, department, segment, channel, agent, item title, notes, evidence,
a staff member's name, an error message — arrives as text, never as markup, on every page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest

from ticketloop_retrospective.dashboard import pages
from ticketloop_retrospective.dashboard.service import Dashboard, TrendPoint
from ticketloop_retrospective.rectification.domain import ItemStatus
from ticketloop_retrospective.rectification.schemas import ItemOut, WeekShare
from ticketloop_retrospective.reports.dictionary import BY_NAME, DRILLDOWN
from ticketloop_retrospective.reports.domain import Filters, parse_period
from ticketloop_retrospective.reports.schemas import (
    Backlog,
    CareFigures,
    CategoryShare,
    CsatFigures,
    DimensionFigures,
    DurationFigures,
    ExpectedResolution,
    GroupCompliance,
    HeadlineGoal,
    NpsFigures,
    PainClassShare,
    ProactiveFigures,
    ProblemPriority,
    RecoveryFigures,
    Report,
    SegmentCount,
    SlaFigures,
    TicketPage,
    TicketRow,
)
from ticketloop_retrospective.reports.schemas import Filters as FiltersOut
from ticketloop_shared.auth import Principal, Role

EVIL = "<script>alert(1)</script>"
QUOTED = '"><img src=x onerror=alert(2)>'
AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def assert_escaped(page: str) -> None:
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def create_staff() -> Principal:
    return Principal(sub=f"sup{EVIL}", role=Role.SUPERVISOR, name=EVIL, department=EVIL, jti="j", iat=1, exp=2)


def create_item() -> ItemOut:
    return ItemOut(
        id=uuid.uuid4(),
        category=EVIL,
        pain_class=EVIL,
        title=f"Refunds {EVIL}",
        status=ItemStatus.OPEN,
        streak_started=EVIL,
        last_hot_week=EVIL,
        threshold=EVIL,
        evidence=[{EVIL: EVIL, "week": QUOTED}],
        owner_department=EVIL,
        notes=EVIL,
        opened_at=AT,
        opened_by=EVIL,
        due_at=AT,
        closed_at=None,
        version=1,
        since_opened=[WeekShare(week=EVIL, tickets=1, total=2, share_pct=50.0, hot=True)],
        cooled=None,
    )


def create_report() -> Report:
    durations = DurationFigures(count=1, average_minutes=3.0, median_minutes=3.0, p90_minutes=4.0)
    group = GroupCompliance(key=EVIL, met=1, breached=1, compliance_pct=50.0)
    return Report(
        period="2026-W48",
        kind="week",
        starts_at=AT,
        ends_at=AT,
        filters=FiltersOut(),
        tickets_opened=2,
        tickets_resolved=1,
        backlog=Backlog(at_start=1, at_end=2, flow=1),
        resolution_rate_pct=50.0,
        first_contact_resolution_pct=None,
        reopen_rate_pct=0.0,
        repeat_complaint_rate_pct=None,
        first_response=durations,
        resolution_time=durations,
        handling_time=durations,
        expected_resolution=ExpectedResolution(
            tickets=1,
            resolved_by_expected=1,
            resolved_by_expected_pct=100.0,
            median_gap_minutes=-30.0,
            average_gap_minutes=-30.0,
        ),  # fmt: skip
        sla=SlaFigures(
            met=1, breached=1, compliance_pct=50.0, by_metric=[group], by_department=[group], by_segment=[group]
        ),
        csat=CsatFigures(responses=1, average=4.0, satisfied_pct=100.0),
        dimensions=DimensionFigures(
            responses=1, quality=8.0, response_speed=None, resolution=7.0, care=9.0, overall=8.0
        ),
        nps=NpsFigures(responses=2, promoters=1, passives=0, detractors=1, score=0.0),
        categories=[CategoryShare(category=EVIL, pain_class=EVIL, tickets=2, share_pct=100.0)],
        pain_classes=[PainClassShare(pain_class=EVIL, tickets=2, share_pct=100.0)],
        priorities=[
            ProblemPriority(
                rank=1,
                category=EVIL,
                pain_class=EVIL,
                quadrant="quick_win",
                impact=0.9,
                difficulty=0.1,
                tickets=2,
                customers=1,
                revenue=10.0,
                handling_minutes=5.0,
                reopen_rate_pct=0.0,
                departments=1,
            )
        ],
        segments=[SegmentCount(segment=EVIL, customers=1, previous=0, change=1)],
        proactive=ProactiveFigures(
            care=CareFigures(made=2, completed=1, outcomes={EVIL: 1}),
            recovery=RecoveryFigures(
                opened=1, resolved=1, recovery_rate_pct=100.0, next_answers=1, no_longer_low=1, no_longer_low_pct=100.0
            ),
        ),
        headline=[
            HeadlineGoal(
                goal="complaints",
                target=EVIL,
                target_value=4.0,
                unit=EVIL,
                baseline_period=EVIL,
                baseline_source="admin",
                baseline=10.0,
                current=2.0,
                change_pct=-80.0,
                met=True,
                status="met",
                note=EVIL,
                parts={EVIL: 50.0},
            )
        ],
        drilldown={},
    )


def render_dashboard() -> str:
    zone = UTC
    view = Dashboard(
        report=create_report(),
        trend=[TrendPoint(period="2026-W48", opened=2, resolved=1, first_response_p50=3.0, sla_compliance_pct=50.0)],
        open_items=[create_item()],
    )
    filters = Filters(channel=EVIL, category=QUOTED, department=EVIL, segment=EVIL)
    return pages.dashboard_page(
        view, period=parse_period("2026-W48", zone), filters=filters, zone=zone, categories=[EVIL], staff=create_staff()
    )


def render_tickets() -> str:
    row = TicketRow(
        ticket_id=EVIL,
        number=None,
        channel=EVIL,
        category=EVIL,
        urgency=EVIL,
        segment=EVIL,
        department_id=EVIL,
        agent_id=EVIL,
        customer_id=EVIL,
        created_at=AT,
        first_response_at=None,
        resolved_at=None,
        reopens=0,
        agent_replies=1,
        csat=None,
    )
    return pages.tickets_page(
        TicketPage(metric=EVIL, period="2026-W48", items=[row], next_after=None),
        filters=Filters(category=EVIL),
        clock=EVIL,
        zone=UTC,
        next_url=f"/dashboard/tickets?after={QUOTED}",
        staff=create_staff(),
    )


@pytest.mark.parametrize(
    "render",
    [
        render_dashboard,
        render_tickets,
        lambda: pages.rectification_page(create_item(), zone=UTC, staff=create_staff()),
        lambda: pages.error_page(EVIL, EVIL, staff=create_staff(), back=QUOTED),
        lambda: pages.login_page(message=EVIL, next_url=QUOTED),
    ],
    ids=["dashboard", "tickets", "rectification", "error", "login"],
)
def test_every_page_shows_what_others_typed_as_text(render: object) -> None:
    assert callable(render)
    page = render()
    assert isinstance(page, str)
    assert_escaped(page)
    assert "<script" not in page  # nor any script of the page's own: the CSP allows none


def test_a_page_is_one_document_with_its_title_and_who_is_signed_in() -> None:
    page = pages.rectification_page(create_item(), zone=UTC, staff=create_staff())
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<title>Refunds &lt;script&gt;alert(1)&lt;/script&gt; · ticketloop review</title>" in page
    assert "<span>&lt;script&gt;alert(1)&lt;/script&gt; · supervisor</span>" in page
    assert "2026-11-24 09:30" in page


def test_every_figure_the_dashboard_shows_or_links_is_defined_in_the_metric_dictionary() -> None:
    report = create_report()
    for t in pages._tiles(report, Filters()):
        assert t.definition, f"tile {t.name!r} has no definition in GET /v1/metrics"
    page = render_dashboard()
    linked = {unquote(m) for m in re.findall(r"[?&;]metric=([^&\"]+)", page)}
    assert {"tickets_opened", "sla_breached", "expected_resolution", "care_contacts_made", "recovery_rate"} <= linked
    assert linked <= DRILLDOWN, linked - DRILLDOWN
    headline_links = {goal: pages.GOAL_METRICS[goal] for goal in pages.GOAL_METRICS}
    assert set(headline_links) <= set(BY_NAME) and set(headline_links.values()) <= DRILLDOWN
