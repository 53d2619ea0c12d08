"""The shared words (channels, categories, needs, urgencies, ticket statuses, segments) are
declared once, in `ticketloop_shared.vocabulary`: every service's HTTP schemas offer exactly
those values, no service's source lists them again, and the sample events speak only them."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from tests.builders import Story
from ticketloop_shared.vocabulary import Category, Channel, Need, Segment, TicketStatus, Urgency

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "sla", "feedback", "retrospective")
WORDS: tuple[type[StrEnum], ...] = (Channel, Category, Need, Urgency, TicketStatus, Segment)
# Event fields that carry a shared word, and the list it comes from.
EVENT_FIELDS: dict[str, type[StrEnum]] = {
    "channel": Channel,
    "via_channel": Channel,
    "preferred_channel": Channel,
    "customer_preferred_channel": Channel,
    "category": Category,
    "previous_category": Category,
    "need": Need,
    "urgency": Urgency,
    "previous_urgency": Urgency,
    "from_status": TicketStatus,
    "to_status": TicketStatus,
    "previous_status": TicketStatus,
    "segment": Segment,
    "previous_segment": Segment,
}


def _values(words: type[StrEnum]) -> set[str]:
    return {w.value for w in words}


def _copied_list(values: set[str]) -> type[StrEnum] | None:
    """The vocabulary list these strings re-declare: at least three words, all from one list."""
    if len(values) < 3:
        return None
    return next((words for words in WORDS if values <= _values(words)), None)


def _enums(node: Any) -> Iterator[list[Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            yield node["enum"]
        for value in node.values():
            yield from _enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from _enums(value)


@pytest.mark.parametrize("service", SERVICES)
def test_every_enum_in_a_service_api_that_names_shared_words_offers_exactly_the_vocabulary(service: str) -> None:
    spec = importlib.import_module(f"ticketloop_{service}.app").create_app().openapi()
    for enum in _enums(spec):
        values = {v for v in enum if isinstance(v, str)}
        for words in WORDS:
            if len(values & _values(words)) >= 3:  # two shared words may be a coincidence
                assert values == _values(words), f"{service}: {sorted(values)} drifted from {words.__name__}"
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        words_named = next((w for w in WORDS if w.__name__ == name), None)
        if words_named is not None:
            assert schema["enum"] == [w.value for w in words_named], name


def _string_collections(tree: ast.Module) -> Iterator[tuple[int, set[str]]]:
    """Literal tuples, lists and sets of strings, `Literal[...]` subscripts, and the members of
    enum-like classes."""
    for node in ast.walk(tree):
        elements: list[ast.expr] | None = None
        if not isinstance(node, ast.stmt | ast.expr):
            continue
        if isinstance(node, ast.ClassDef):
            members = [a.value for a in node.body if isinstance(a, ast.Assign)]
            strings = {m.value for m in members if isinstance(m, ast.Constant) and isinstance(m.value, str)}
            if strings:
                yield node.lineno, strings
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            elements = node.elts
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            elements = node.slice.elts
        if elements:
            strings = {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(strings) == len(elements):
                yield node.lineno, strings


def test_no_service_lists_a_shared_vocabulary_again() -> None:
    copies = []
    for source in sorted((ROOT / "services").glob("*/ticketloop_*/**/*.py")):
        if "migrations" in source.parts:
            continue  # history: a migration keeps the words it was written with
        for line, strings in _string_collections(ast.parse(source.read_text())):
            words = _copied_list(strings)
            if words is not None:
                copies.append(f"{source.relative_to(ROOT)}:{line} re-lists {words.__name__}")
    assert not copies, "import them from ticketloop_shared.vocabulary:\n" + "\n".join(copies)


def test_the_sample_events_speak_only_the_vocabulary() -> None:
    checked = 0
    for event in Story().every_event():
        for field, value in event.data.model_dump(mode="json").items():
            words = EVENT_FIELDS.get(field)
            if words is not None and value is not None:
                assert value in _values(words), f"{event.type}.{field} = {value!r} is not a {words.__name__}"
                checked += 1
    assert checked > 0


def test_sla_and_proactive_tickets_use_the_vocabulary() -> None:
    from ticketloop_intake.proactive import domain as proactive
    from ticketloop_slarules.policies import TICKET_STATUSES

    assert _values(TicketStatus) == TICKET_STATUSES
    assert proactive.KNOWN_CATEGORIES == _values(Category)
    assert {proactive.RECOVERY_URGENCY, proactive.CARE_URGENCY} <= _values(Urgency)
