"""The pure rules of feedback surveys: status, tokens, the answer's shape, the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ticketloop_feedback.app import create_app
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys.domain import SurveyStatus, is_token_shaped, new_token, status_at, survey_link
from ticketloop_feedback.surveys.schemas import SurveyAnswer
from ticketloop_shared.settings import PlatformSettings

EXPIRES = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answered_at", "now", "status"),
    [
        (None, EXPIRES - timedelta(microseconds=1), SurveyStatus.OPEN),
        (None, EXPIRES, SurveyStatus.EXPIRED),
        (EXPIRES - timedelta(days=1), EXPIRES + timedelta(days=30), SurveyStatus.ANSWERED),
    ],
)
def test_a_survey_is_open_until_it_expires_and_an_answer_outlives_expiry(
    answered_at: datetime | None, now: datetime, status: SurveyStatus
) -> None:
    assert status_at(answered_at=answered_at, expires_at=EXPIRES, now=now) is status


def test_issued_tokens_are_unique_url_safe_and_recognised() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(is_token_shaped(t) and len(t) == 32 for t in tokens)
    assert survey_link("https://s.example", "abc") == "https://s.example/v1/surveys/abc"


@pytest.mark.parametrize("token", ["", "short", "x" * 65, "has space in it, so not a token", "nul\x00" * 8, "é" * 32])
def test_junk_is_never_taken_for_a_token(token: str) -> None:
    assert not is_token_shaped(token)


def test_an_answer_keeps_its_comment_trimmed_and_drops_a_blank_one() -> None:
    assert SurveyAnswer.model_validate({"csat": 5, "nps": 10, "comment": "  great  "}).comment == "great"
    assert SurveyAnswer.model_validate({"csat": 1, "nps": 0, "comment": "   "}).comment is None
    assert SurveyAnswer.model_validate({"csat": 1, "nps": 0}).comment is None


@pytest.mark.parametrize(
    "body",
    [{"csat": "5", "nps": 5}, {"csat": 5.0, "nps": 5}, {"csat": 5, "nps": False}, {"csat": 5, "nps": 5, "x": 1}],
)
def test_an_answer_is_never_coerced(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SurveyAnswer.model_validate(body)


def test_the_public_base_url_loses_its_trailing_slash() -> None:
    assert (
        FeedbackSettings(public_base_url="https://s.example/feedback/").public_base_url == "https://s.example/feedback"
    )


@pytest.mark.parametrize("url", ["s.example", "ftp://s.example", "https://s.example/?q=1", "https://"])
def test_a_public_base_url_must_be_a_plain_http_url(url: str) -> None:
    with pytest.raises(ValidationError):
        FeedbackSettings(public_base_url=url)


def test_production_refuses_survey_links_customers_cannot_reach() -> None:
    production = PlatformSettings(env="production", auth_secret="s" * 40)
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        FeedbackSettings(platform=production)
    assert FeedbackSettings(platform=production, public_base_url="https://feedback.example.com").platform.env == (
        "production"
    )


def _property_names(schema: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Every property name a response schema can hold, following `$ref`s."""
    if isinstance(schema, list):
        return {name for item in schema for name in _property_names(item, components, seen)}
    if not isinstance(schema, dict):
        return set()
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return set() if name in seen else _property_names(components[name], components, seen | {name})
    names = set(schema.get("properties", {}))
    return names | {n for value in schema.values() for n in _property_names(value, components, seen)}


def test_only_the_delivery_system_is_given_links_and_only_the_link_takes_an_answer() -> None:
    spec = create_app().openapi()
    components = spec["components"]["schemas"]
    given_links: set[str] = set()
    answering: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = [r.get("content", {}) for r in op["responses"].values()]
            if {"link", "token"} & _property_names(responses, components):
                given_links.add(f"{method.upper()} {path}")
            body = op.get("requestBody", {}).get("content", {})
            if "SurveyAnswer" in str(body):
                answering.add(f"{method.upper()} {path}")
    assert given_links == {"GET /v1/survey-deliveries"}  # notifier only (see the integration tests)
    assert answering == {"POST /v1/surveys/{token}"}  # the link itself, no staff token
