"""HTML through Jinja2 with autoescape on, for every service that serves pages (the review
dashboard today, the staff workspace next): one place decides that whatever a template prints is
escaped unless it is already `Markup`, so a page never depends on someone remembering to escape.

Only plumbing lives here — the environment and the formatting filters any page uses for figures
and times; what a page shows and why stays in its service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

__all__ = ["Markup", "environment", "escape", "figure", "local_time"]

DASH = "–"


def figure(value: float | None, unit: str = "") -> str:
    """A figure as a reader sees it: no trailing `.0`, one decimal at most, a dash when unmeasured."""
    if value is None:
        return DASH
    text = f"{value:.1f}".removesuffix(".0") if not float(value).is_integer() else f"{int(value)}"
    return f"{text}{unit}"


def local_time(instant: datetime | None, zone: tzinfo) -> str:
    """An instant as a wall-clock time in `zone`, to the minute; a dash when there is none."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M") if instant is not None else DASH


def environment(package: str, *, filters: Mapping[str, Callable[..., Any]] | None = None) -> Environment:
    """The templates in `package`'s `templates/` folder, shipped inside its wheel.

    Autoescape is on for every HTML/SVG/XML template and for templates built from strings; an
    undefined name is an error rather than an empty string, so a renamed field fails a test instead
    of vanishing from the page. Block tags eat their own line, so templates can be indented freely.
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(("html", "htm", "svg", "xml"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["figure"] = figure
    env.filters["local_time"] = local_time
    env.filters.update(filters or {})
    return env
