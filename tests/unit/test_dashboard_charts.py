"""The dashboard's charts and rules without a server or a browser: scales land on round numbers,
empty data draws an honest "no data", every text is escaped, points sit where their values
say, and the login never returns anyone to another site."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC

import pytest

from ticketloop_retrospective.dashboard import charts
from ticketloop_retrospective.dashboard.domain import (
    dashboard_link,
    following,
    safe_return,
    switched,
    tickets_link,
)
from ticketloop_retrospective.reports.domain import Filters, ReportMonth, ReportWeek
from ticketloop_shared.csrf import same_origin

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>&"\''


def parse(svg: str) -> ET.Element:
    """The chart as XML: a chart that does not parse would not draw."""
    return ET.fromstring(svg)


def circles(svg: str) -> list[tuple[float, float]]:
    return [(float(c.get("cx", 0)), float(c.get("cy", 0))) for c in parse(svg).iter(f"{SVG}circle")]


@pytest.mark.parametrize(
    ("largest", "top"),
    [(0, 1.0), (-3, 1.0), (0.7, 1.0), (1, 1.0), (3, 5.0), (7, 10.0), (12, 20.0), (23, 25.0), (99, 100.0), (101, 200.0)],
)
def test_axes_end_on_a_round_number_at_or_above_the_largest_value(largest: float, top: float) -> None:
    assert charts.nice_ceiling(largest) == top


def test_a_value_is_scaled_onto_its_axis_and_clamped_to_it() -> None:
    assert charts.scale(50, 100, 200) == 100
    assert charts.scale(150, 100, 200) == 200
    assert charts.scale(-5, 100, 200) == 0
    assert charts.scale(5, 0, 200) == 0


def test_figures_read_as_a_person_writes_them() -> None:
    assert (charts.fmt(3.0), charts.fmt(2.5, " %"), charts.fmt(None), charts.fmt(12.25)) == ("3", "2.5 %", "–", "12.2")


def test_a_chart_with_nothing_to_draw_says_so_and_is_still_an_image() -> None:
    for svg in (
        charts.line_chart("Trend", []),
        charts.line_chart("Trend", [charts.Series("opened", [charts.Point("2026-W48", None)])]),
        charts.bar_chart("Categories", []),
        charts.stacked_bars("NPS", [charts.Stack("NPS", [charts.Part("promoters", 0, charts.GREEN)])]),
    ):
        root = parse(svg)
        assert root.get("role") == "img" and "no data" in (root.get("aria-label") or "")
        assert "No data" in svg


def test_the_matrix_without_problems_still_draws_its_quadrants() -> None:
    svg = charts.matrix("Priorities", [])
    labels = [t.text for t in parse(svg).iter(f"{SVG}text") if t.get("class") == "quadrant"]
    assert labels == ["Quick wins", "Major projects", "Fill-ins", "Thankless"]


def test_every_text_and_link_is_escaped() -> None:
    href = f"/dashboard/tickets?category={EVIL}"
    svgs = [
        charts.bar_chart("Categories", [charts.Bar(EVIL, 3, href, note=EVIL)]),
        charts.line_chart(EVIL, [charts.Series(EVIL, [charts.Point(EVIL, 1.0, href)])]),
        charts.stacked_bars(EVIL, [charts.Stack(EVIL, [charts.Part(EVIL, 1, charts.RED, href)], figure=EVIL)]),
        charts.matrix(EVIL, [charts.MatrixPoint(1, EVIL, 0.9, 0.1, "quick_win", href)]),
    ]
    for svg in svgs:
        assert "<script>" not in svg
        root = parse(svg)  # parses: no quote broke out of an attribute
        texts = [el.text or "" for el in root.iter()] + [v for el in root.iter() for v in el.attrib.values()]
        assert any(EVIL in t for t in texts)  # the name survives, as text


def test_a_line_breaks_where_a_period_has_no_value_and_each_point_links_to_its_tickets() -> None:
    points = [
        charts.Point("2026-W45", 10, "/t?w=45"),
        charts.Point("2026-W46", None, "/t?w=46"),
        charts.Point("2026-W47", 20, "/t?w=47"),
        charts.Point("2026-W48", 5, "/t?w=48"),
    ]
    svg = charts.line_chart("Opened", [charts.Series("opened", points)])
    root = parse(svg)
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 1 and len((lines[0].get("points") or "").split()) == 2  # W47–W48 only
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links == ["/t?w=45", "/t?w=47", "/t?w=48"]
    (x45, y45), (x47, y47), (x48, y48) = circles(svg)
    assert x45 < x47 < x48
    assert y47 < y45 < y48  # higher values higher up: 20 above 10 above 5
    assert "W45" in svg and "2026-W45" in (root.get("aria-label") or "")


def test_a_fixed_axis_keeps_percentages_on_a_0_to_100_scale() -> None:
    low = charts.line_chart("SLA", [charts.Series("c", [charts.Point("a", 50), charts.Point("b", 100)])], top=100)
    (_, y50), (_, y100) = circles(low)
    assert y100 < y50 and abs(y50 - (12 + (190 - 12 - 42) / 2)) < 0.1


def test_bars_are_proportional_to_their_values() -> None:
    svg = charts.bar_chart("Categories", [charts.Bar("a", 8), charts.Bar("b", 4), charts.Bar("c", 0)])
    widths = [float(r.get("width", 0)) for r in parse(svg).iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] == 1  # an empty category still shows a sliver to hover


def test_stacked_parts_split_the_bar_in_proportion_and_link_each_part() -> None:
    stack = charts.Stack(
        "NPS",
        [
            charts.Part("promoters", 6, charts.GREEN, "/p"),
            charts.Part("passives", 3, charts.GREY),
            charts.Part("detractors", 3, charts.RED, "/d"),
        ],
        figure="25",
    )
    root = parse(charts.stacked_bars("NPS", [stack]))
    parts = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "part"]
    widths = [float(r.get("width", 0)) for r in parts]
    assert widths[0] == pytest.approx(widths[1] + widths[2])
    assert [float(r.get("x", 0)) for r in parts] == pytest.approx(
        [
            float(parts[0].get("x", 0)),
            float(parts[0].get("x", 0)) + widths[0],
            float(parts[0].get("x", 0)) + widths[0] + widths[1],
        ]
    )
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/p", "/d"]


def test_each_problem_lands_in_its_quadrant() -> None:
    points = [
        charts.MatrixPoint(1, "quick", impact=0.9, difficulty=0.1, quadrant="quick_win"),
        charts.MatrixPoint(2, "major", impact=0.8, difficulty=0.9, quadrant="major_project"),
        charts.MatrixPoint(3, "fill", impact=0.2, difficulty=0.2, quadrant="fill_in"),
        charts.MatrixPoint(4, "thankless", impact=0.1, difficulty=0.8, quadrant="thankless"),
    ]
    svg = charts.matrix("Priorities", points, size=300)
    root = parse(svg)
    lines = list(root.iter(f"{SVG}line"))
    mid_x = float(lines[0].get("x1", 0))
    mid_y = float(lines[1].get("y1", 0))
    placed = dict(zip(["quick", "major", "fill", "thankless"], circles(svg), strict=True))
    assert placed["quick"][0] < mid_x and placed["quick"][1] < mid_y  # top left
    assert placed["major"][0] > mid_x and placed["major"][1] < mid_y  # top right
    assert placed["fill"][0] < mid_x and placed["fill"][1] > mid_y  # bottom left
    assert placed["thankless"][0] > mid_x and placed["thankless"][1] > mid_y  # bottom right
    numbers = [t.text for t in root.iter(f"{SVG}text") if t.text and re.fullmatch(r"\d", t.text)]
    assert numbers == ["1", "2", "3", "4"]


def test_drill_down_links_carry_the_period_the_filters_and_the_narrowing() -> None:
    filters = Filters(channel="web", segment="high_value")
    assert tickets_link("2026-W48", "tickets_opened", filters, category="a&b") == (
        "/dashboard/tickets?period=2026-W48&metric=tickets_opened&channel=web&category=a%26b&segment=high_value"
    )
    assert tickets_link("2026-11", "sla_met", Filters(), clock="first_response") == (
        "/dashboard/tickets?period=2026-11&metric=sla_met&clock=first_response"
    )
    assert dashboard_link("2026-W48", Filters(category="billing")) == "/dashboard?period=2026-W48&category=billing"


def test_the_periods_around_the_one_shown() -> None:
    week = ReportWeek.parse("2026-W53", UTC)
    assert following(week, UTC).label == "2027-W01"
    assert switched(week, UTC).label == "2026-12"
    month = ReportMonth.parse("2026-12", UTC)
    assert following(month, UTC).label == "2027-01"
    assert switched(month, UTC).label == "2026-W49"  # 1 December 2026 is a Tuesday of W49


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/dashboard"),
        ("/dashboard?period=2026-W48&category=billing", "/dashboard?period=2026-W48&category=billing"),
        ("/dashboard/tickets?metric=csat", "/dashboard/tickets?metric=csat"),
        ("//evil.example/dashboard", "/dashboard"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("/v1/reports/weekly", "/dashboard"),
        ("/dashboardx", "/dashboard"),
        ("/dashboard/login?next=//evil", "/dashboard"),
    ],
)
def test_login_returns_only_to_a_dashboard_page(target: str | None, expected: str) -> None:
    assert safe_return(target) == expected


def test_a_login_form_is_taken_only_from_this_site() -> None:
    assert same_origin(None, "review.example:8005")  # an old browser: SameSite guards instead
    assert same_origin("http://review.example:8005", "review.example:8005")
    assert same_origin("https://Review.example", "review.example")  # TLS ended at the proxy
    assert not same_origin("https://evil.example", "review.example:8005")
    assert not same_origin("null", "review.example:8005")
