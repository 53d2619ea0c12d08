"""CSV exports: a report flattened to one figure per row, and the tickets behind a figure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.responses import Response

from ticketloop_retrospective.reports.schemas import Report, TicketRow

REPORT_HEADER = ("figure", "value")


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """`a.b.c` paths to every leaf; list items are named by their identifying field."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else key, inner)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            name = next(
                (
                    str(item[k])
                    for k in ("key", "category", "pain_class", "segment", "goal")
                    if isinstance(item, dict) and k in item
                ),
                str(n),
            )
            yield from _flatten(f"{prefix}[{name}]", item)
    else:
        yield prefix, value


def report_rows(report: Report) -> list[tuple[Any, ...]]:
    """One row per figure of the report, in the order the JSON shows them, under a header."""
    return [REPORT_HEADER, *_flatten("", report.model_dump(mode="json"))]


def ticket_rows(rows: Sequence[TicketRow]) -> list[tuple[Any, ...]]:
    """The drill-down's tickets, one per row, with a header."""
    fields = list(TicketRow.model_fields)
    dumped = [r.model_dump(mode="json") for r in rows]
    return [tuple(fields), *[tuple(d[f] for f in fields) for d in dumped]]


def csv_response(rows: Sequence[tuple[Any, ...]], filename: str) -> Response:
    """`rows` (header first) as a CSV download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
