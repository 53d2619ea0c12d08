"""The rules of canned replies, as pure functions: which placeholders a template may use, how
a template is checked when it is saved and filled in for one ticket, how deadlines read, and
template versions as ETags.

Templates are filled by a formatter of our own over `string.Formatter.parse`: a placeholder is
a bare name from a fixed list, replaced by a string. No attribute or index access (`{x.y}`,
`{x[0]}`), no format spec or conversion, no code: nothing a template says can reach an object."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from string import Formatter
from zoneinfo import ZoneInfo

from ticketloop_shared.errors import Unprocessable

# Every placeholder a template may use, with what it stands for (shown in the API's errors).
PLACEHOLDERS: dict[str, str] = {
    "customer_first_name": "the customer's first name",
    "customer_name": "the customer's full name",
    "ticket_number": "the ticket's number",
    "agent_name": "the name of the person writing the reply",
    "department_name": "the ticket's department",
    "first_response_due": "when the first response falls due",
    "resolution_due": "when the resolution falls due",
    "committed_resolution_at": "the resolution time committed to the customer",
}
# What a deadline reads when there is none to tell (not yet known, paused, met).
NO_DEADLINE = "soon"


def placeholders(body: str) -> list[str]:
    """The placeholders `body` uses, in order; 422 `unknown_placeholder` for one not in
    `PLACEHOLDERS` (or written with a format spec, conversion, attribute or index) and for
    malformed braces (a literal brace is written `{{` or `}}`)."""
    try:
        parsed = list(Formatter().parse(body))
    except ValueError as exc:
        raise Unprocessable(
            f"the template's braces do not match ({exc}); write a literal brace as {{{{ or }}}}",
            code="unknown_placeholder",
            details={"allowed": sorted(PLACEHOLDERS)},
        ) from None
    used: list[str] = []
    unknown: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name in PLACEHOLDERS and not spec and conversion is None:
            used.append(name)
        else:
            unknown.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    if unknown:
        raise Unprocessable(
            f"unknown placeholder(s): {', '.join(unknown)}",
            code="unknown_placeholder",
            details={"unknown": unknown, "allowed": sorted(PLACEHOLDERS)},
        )
    return used


def fill(body: str, values: Mapping[str, str]) -> str:
    """The template with each placeholder replaced by its value (a checked template; a value
    missing from `values` reads as an empty string)."""
    placeholders(body)
    return "".join(
        literal + (values.get(name, "") if name is not None else "") for literal, name, _, _ in Formatter().parse(body)
    )


def first_name(full_name: str | None) -> str:
    """The first word of a name ("Jane Doe" → "Jane"); empty when there is none."""
    words = (full_name or "").split()
    return words[0] if words else ""


def readable(instant: datetime | None, zone: str) -> str:
    """An instant as a customer reads it, in `zone` with the zone's abbreviation ("Monday 7
    December 2026, 14:30 CET"); `NO_DEADLINE` when there is none."""
    if instant is None:
        return NO_DEADLINE
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def etag(version: int) -> str:
    """A template version as an HTTP entity tag."""
    return f'"{version}"'


def matches_version(if_match: str, version: int) -> bool:
    """Whether an `If-Match` value names this version (`*` names any; a weak tag is accepted)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return any(tag == "*" or tag == etag(version) for tag in tags)
