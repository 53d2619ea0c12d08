"""Charts drawn on the server as inline SVG, so the dashboard needs no script, no outside network
and no chart library: pure functions from numbers to markup, unit-tested without a browser.

Every text that reaches the markup (labels, names, links) is escaped here with the template
engine's own `escape`, because category names and ids come from the channels' input; a chart is
`Markup` only because it is built from escaped text, numbers and this module's constants, so the
pages' templates print it as it is. Every chart is an `<svg role="img">` with an
`aria-label` summing it up and a `<title>` per mark, which browsers show on hover; every mark
with a drill-down is wrapped in a link to the tickets behind it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ticketloop_shared.templates import Markup, escape, figure

# Colours that stay distinguishable for the common colour-vision deficiencies (Okabe–Ito).
BLUE, ORANGE, GREEN, RED, GREY, PURPLE = "#0072b2", "#e69f00", "#009e73", "#d55e00", "#999999", "#cc79a7"
PAIN_COLOURS = {"process": BLUE, "service": GREEN, "product": ORANGE, "emotional": PURPLE}
QUADRANT_TITLES = {
    "quick_win": "Quick wins",
    "major_project": "Major projects",
    "fill_in": "Fill-ins",
    "thankless": "Thankless",
}
# A figure as a reader sees it (the pages' `figure` filter).
fmt = figure
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def esc(text: object) -> Markup:
    """Text or an attribute value, escaped (quotes included)."""
    return escape(str(text))


def nice_ceiling(value: float) -> float:
    """The axis top for a largest value: the next 1, 2, 2.5 or 5 × 10ⁿ at or above it (1 for
    nothing to show), so gridlines fall on round numbers."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return 10.0 * power  # pragma: no cover  (the loop ends at 10 × power ≥ value)


def scale(value: float, top: float, pixels: float) -> float:
    """`value` on an axis from 0 to `top` drawn over `pixels`, clamped to the axis."""
    if top <= 0:
        return 0.0
    return max(0.0, min(value / top, 1.0)) * pixels


def _svg(width: int, height: int, label: str, body: Sequence[str], css_class: str) -> Markup:
    return Markup(
        f'<svg class="chart {css_class}" role="img" aria-label="{esc(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f"<title>{esc(label)}</title>{''.join(body)}</svg>"
    )


def _link(href: str | None, inner: str) -> str:
    return f'<a href="{esc(href)}">{inner}</a>' if href else inner


def _empty(width: int, height: int, label: str, css_class: str) -> Markup:
    text = f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" fill="{GREY}">No data</text>'
    return _svg(width, height, f"{label}: no data", [text], css_class)


@dataclass(frozen=True)
class Point:
    """One value of a series at one period (None: not measured then); `href` lists its tickets."""

    label: str
    value: float | None
    href: str | None = None


@dataclass(frozen=True)
class Series:
    """One line of a trend chart."""

    name: str
    points: Sequence[Point]
    colour: str = BLUE


def line_chart(
    title: str, series: Sequence[Series], *, unit: str = "", top: float | None = None, width: int = 360
) -> Markup:
    """Trend lines over the same periods (oldest first). A period without a value breaks the
    line rather than drawing it down to zero; each point links to its tickets."""
    height, left, right, above, below = 190, 36, 20, 12, 42
    plot_w, plot_h = width - left - right, height - above - below
    values = [p.value for s in series for p in s.points if p.value is not None]
    labels = [p.label for p in series[0].points] if series else []
    if not values or not labels:
        return _empty(width, height, title, "line")
    axis_top = top if top is not None else nice_ceiling(max(values))
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + i * step if len(labels) > 1 else left + plot_w / 2

    def y(v: float) -> float:
        return above + plot_h - scale(v, axis_top, plot_h)

    body: list[str] = []
    for tick in (0.0, axis_top / 2, axis_top):
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{esc(fmt(tick))}</text>'
        )
    for i, label in enumerate(labels):
        if len(labels) <= 8 or (len(labels) - 1 - i) % 2 == 0:  # every other, ending on the latest
            body.append(
                f'<text x="{x(i):.1f}" y="{height - below + 14}" text-anchor="middle">{esc(_short(label))}</text>'
            )
    for n, s in enumerate(series):
        runs: list[list[str]] = [[]]
        for i, p in enumerate(s.points):
            if p.value is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(p.value):.1f}")
        for run in runs:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.colour}" stroke-width="2"/>')
        for i, p in enumerate(s.points):
            if p.value is None:
                continue
            mark = (
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="4" fill="{s.colour}">'
                f"<title>{esc(s.name)}, {esc(p.label)}: {esc(fmt(p.value, unit))}</title></circle>"
            )
            body.append(_link(p.href, mark))
        legend_x = left + n * 120
        body.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{s.colour}"/>'
            f'<text x="{legend_x + 14}" y="{height - 7}">{esc(s.name)}</text>'
        )
    summary = "; ".join(f"{s.name} {', '.join(f'{p.label} {fmt(p.value, unit)}' for p in s.points)}" for s in series)
    return _svg(width, height, f"{title}: {summary}", body, "line")


def _short(label: str) -> str:
    """`2026-W48` → `W48`, `2026-11` → `11/26`: axis labels that fit eight to a chart."""
    year, _, rest = label.partition("-")
    return rest if rest.startswith("W") else f"{rest}/{year[-2:]}"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, a note shown after the value, and where it drills to."""

    label: str
    value: float
    href: str | None = None
    note: str = ""
    colour: str = BLUE


def bar_chart(title: str, bars: Sequence[Bar], *, unit: str = "", width: int = 360) -> Markup:
    """Horizontal bars, largest axis value a round number; each bar links to its tickets."""
    row, label_w, value_w = 22, 112, 136
    height = 8 + row * len(bars)
    if not bars:
        return _empty(width, 60, title, "bars")
    plot_w = width - label_w - value_w
    top = nice_ceiling(max(b.value for b in bars))
    body: list[str] = []
    for i, b in enumerate(bars):
        y = 4 + i * row
        length = scale(b.value, top, plot_w)
        text = f"{fmt(b.value, unit)}{f' · {b.note}' if b.note else ''}"
        mark = (
            f'<rect class="bar" x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="{row - 6}" '
            f'fill="{b.colour}"><title>{esc(b.label)}: {esc(text)}</title></rect>'
        )
        body.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{esc(_clip(b.label, 18))}</text>'
            f"{_link(b.href, mark)}"
            f'<text x="{label_w + length + 4:.1f}" y="{y + 12}">{esc(text)}</text>'
        )
    summary = ", ".join(f"{b.label} {fmt(b.value, unit)}" for b in bars)
    return _svg(width, height, f"{title}: {summary}", body, "bars")


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


@dataclass(frozen=True)
class Part:
    """One part of a stacked bar."""

    label: str
    value: float
    colour: str
    href: str | None = None


@dataclass(frozen=True)
class Stack:
    """One stacked bar: the parts of a whole, and a figure shown beside it."""

    label: str
    parts: Sequence[Part]
    figure: str = ""


def stacked_bars(title: str, stacks: Sequence[Stack], *, width: int = 360) -> Markup:
    """One bar per row, each split into its parts in proportion to the row's total (each part
    links to its tickets); a legend names the parts."""
    row, label_w, figure_w = 26, 110, 56
    shown = [s for s in stacks if sum(p.value for p in s.parts) > 0]
    if not shown:
        return _empty(width, 60, title, "stacked")
    height = 24 + row * len(shown)
    plot_w = width - label_w - figure_w
    body: list[str] = []
    for i, stack in enumerate(shown):
        y = 4 + i * row
        total = sum(p.value for p in stack.parts)
        x = float(label_w)
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{esc(_clip(stack.label, 18))}</text>')
        for part in stack.parts:
            if part.value <= 0:
                continue
            length = scale(part.value, total, plot_w)
            mark = (
                f'<rect class="part" x="{x:.1f}" y="{y}" width="{length:.1f}" height="{row - 8}" fill="{part.colour}">'
                f"<title>{esc(stack.label)}, {esc(part.label)}: {esc(fmt(part.value))} of {esc(fmt(total))}"
                f"</title></rect>"
            )
            body.append(_link(part.href, mark))
            x += length
        body.append(f'<text x="{width - figure_w + 6}" y="{y + 13}">{esc(stack.figure)}</text>')
    seen: dict[str, str] = {}
    for stack in shown:
        for part in stack.parts:
            seen.setdefault(part.label, part.colour)
    for n, (label, colour) in enumerate(seen.items()):
        legend_x = label_w + n * 90
        body.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{height - 7}">{esc(label)}</text>'
        )
    summary = "; ".join(
        f"{s.label}: {', '.join(f'{p.label} {fmt(p.value)}' for p in s.parts)}" + (f" ({s.figure})" if s.figure else "")
        for s in shown
    )
    return _svg(width, height, f"{title}: {summary}", body, "stacked")


@dataclass(frozen=True)
class MatrixPoint:
    """A problem on the impact × difficulty matrix (both 0–1), numbered by its rank."""

    rank: int
    label: str
    impact: float
    difficulty: float
    quadrant: str
    href: str | None = None
    colour: str = BLUE


def matrix(title: str, points: Sequence[MatrixPoint], *, size: int = 320) -> Markup:
    """The 2×2 priority matrix: difficulty rightwards, impact upwards, the 0.5 lines splitting
    it into quick wins (top left), major projects (top right), fill-ins (bottom left) and
    thankless tasks (bottom right), named outside the box so no dot hides a name. Each problem
    is a numbered dot linking to its tickets; dots stay `inset` inside the box at 0 and 1."""
    left, top, inset = 28, 20, 11
    plot = size - left - 8
    height = top + plot + 36

    def x(difficulty: float) -> float:
        return left + inset + scale(difficulty, 1.0, plot - 2 * inset)

    def y(impact: float) -> float:
        return top + plot - inset - scale(impact, 1.0, plot - 2 * inset)

    body = [
        f'<rect x="{left}" y="{top}" width="{plot / 2:g}" height="{plot / 2:g}" fill="#e8f5ee"/>',
        f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="none" stroke="#999"/>',
        f'<line x1="{x(0.5):g}" x2="{x(0.5):g}" y1="{top}" y2="{top + plot}" stroke="#999" stroke-dasharray="4 3"/>',
        f'<line x1="{left}" x2="{left + plot}" y1="{y(0.5):g}" y2="{y(0.5):g}" stroke="#999" stroke-dasharray="4 3"/>',
    ]
    for quadrant, (qx, qy) in {
        "quick_win": (left + plot / 4, top - 6),
        "major_project": (left + plot * 3 / 4, top - 6),
        "fill_in": (left + plot / 4, top + plot + 14),
        "thankless": (left + plot * 3 / 4, top + plot + 14),
    }.items():
        body.append(
            f'<text class="quadrant" x="{qx:g}" y="{qy:g}" text-anchor="middle" fill="#555">'
            f"{esc(QUADRANT_TITLES[quadrant])}</text>"
        )
    body.append(
        f'<text x="{left + plot / 2:g}" y="{height - 4}" text-anchor="middle">difficulty →</text>'
        f'<text transform="translate(12 {top + plot / 2:g}) rotate(-90)" text-anchor="middle">impact →</text>'
    )
    for p in points:
        mark = (
            f'<g class="problem"><circle cx="{x(p.difficulty):.1f}" cy="{y(p.impact):.1f}" r="9" fill="{p.colour}" '
            f'stroke="#fff"/><text x="{x(p.difficulty):.1f}" y="{y(p.impact) + 4:.1f}" text-anchor="middle" '
            f'fill="#fff">{p.rank}</text><title>{p.rank}. {esc(p.label)}: impact {p.impact:.2f}, difficulty '
            f"{p.difficulty:.2f} ({esc(QUADRANT_TITLES.get(p.quadrant, p.quadrant))})</title></g>"
        )
        body.append(_link(p.href, mark))
    summary = ", ".join(f"{p.rank}. {p.label} {QUADRANT_TITLES.get(p.quadrant, p.quadrant)}" for p in points)
    return _svg(size, height, f"{title}: {summary or 'no problems'}", body, "matrix")
