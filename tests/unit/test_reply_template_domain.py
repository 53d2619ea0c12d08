"""Canned replies' rules: placeholders checked when saved, filled in by our own formatter (no
attribute access, no format specs), names and deadlines as a customer reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketloop_intake.reply_templates.domain import PLACEHOLDERS, fill, first_name, placeholders, readable
from ticketloop_shared.errors import DomainError


def test_placeholders_are_listed_in_order_and_literal_braces_are_not_placeholders() -> None:
    assert placeholders("{ticket_number} {{not one}} {customer_name} {ticket_number}") == [
        "ticket_number",
        "customer_name",
        "ticket_number",
    ]
    assert placeholders("no placeholder") == []


@pytest.mark.parametrize(
    "body",
    [
        "{nope}",
        "{}",
        "{0}",
        "{customer_name.upper}",
        "{customer_name[0]}",
        "{customer_name!s}",
        "{ticket_number:x}",
        "{",
        "}",
        "{a{b}}",
    ],
)
def test_anything_but_a_known_bare_placeholder_is_refused(body: str) -> None:
    with pytest.raises(DomainError) as refused:
        placeholders(body)
    assert (refused.value.status_code, refused.value.code) == (422, "unknown_placeholder")


def test_filling_replaces_each_placeholder_with_its_text_and_nothing_more() -> None:
    values = dict.fromkeys(PLACEHOLDERS, "")
    values.update(customer_first_name="{agent_name}", ticket_number="T1")
    assert fill("Hi {customer_first_name}, {ticket_number} {{ok}}", values) == "Hi {agent_name}, T1 {ok}"
    assert fill("Hi {customer_name}!", {}) == "Hi !"


def test_a_first_name_is_the_first_word() -> None:
    assert (first_name("  Jane  Mary Doe"), first_name(""), first_name(None)) == ("Jane", "", "")


def test_a_deadline_reads_in_the_configured_zone_with_its_abbreviation() -> None:
    instant = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)
    assert readable(instant, "Europe/Warsaw") == "Monday 7 December 2026, 14:30 CET"
    assert readable(datetime(2026, 7, 1, 8, 5, tzinfo=UTC), "Europe/Warsaw") == "Wednesday 1 July 2026, 10:05 CEST"
    assert readable(instant, "UTC") == "Monday 7 December 2026, 13:30 UTC"
    assert readable(None, "UTC") == "soon"
