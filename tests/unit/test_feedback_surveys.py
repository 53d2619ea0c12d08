"""The pure rules of feedback surveys: status, timing by kind (quarter ends in the survey time
zone), templates and answers checked against them, low scores, the NPS reason's prompt, tokens,
the settings."""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from ticketloop_feedback.app import MIGRATIONS, create_app
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys.domain import (
    Answer,
    LowScoreThresholds,
    Problem,
    SurveyStatus,
    first_cooperation,
    is_token_shaped,
    low_score_reasons,
    next_quarter,
    onboarding_survey_due,
    quarter_named,
    quarter_of,
    resolution_is_stale,
    split_texts,
    status_at,
    survey_link,
    texts_field,
    ticket_survey_due,
    validate_answer,
    with_texts,
)
from ticketloop_feedback.templates.domain import Question, QuestionKind, Template, nps_reason_prompt, validate_template
from ticketloop_shared.bearer import bearer_digest, new_bearer
from ticketloop_shared.events import Dimension
from ticketloop_shared.settings import PlatformSettings

EXPIRES = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SENT = EXPIRES - timedelta(days=14)
BERLIN = ZoneInfo("Europe/Berlin")


def _seeded() -> dict[tuple[str, int], Template]:
    """The templates the migration seeds, as domain templates."""
    path = next((MIGRATIONS / "versions").glob("0005_*.py"))
    spec = importlib.util.spec_from_file_location("seed_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        (t, v): Template(id=t, version=v, name=n, questions=tuple(Question.from_json(q) for q in qs))
        for t, v, n, qs in module.SEEDS
    }


SEEDED = _seeded()
TICKET = SEEDED[("ticket", 2)]
RELATIONSHIP = SEEDED[("relationship", 1)]
GOOD_RELATIONSHIP: dict[str, Any] = {
    "quality": 8,
    "response_speed": 7,
    "resolution": 9,
    "care": 10,
    "overall": 8,
    "nps": 9,
    "nps_reason": "Fast and friendly",
    "suggestions": "Open on Sundays",
    "contact_ok": True,
}


# --- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent_at", "cancelled_at", "answered_at", "now", "status"),
    [
        (None, None, None, SENT, SurveyStatus.SCHEDULED),
        (SENT, None, None, EXPIRES - timedelta(microseconds=1), SurveyStatus.OPEN),
        (SENT, None, None, EXPIRES, SurveyStatus.EXPIRED),
        (SENT, None, EXPIRES - timedelta(days=1), EXPIRES + timedelta(days=30), SurveyStatus.ANSWERED),
        (None, SENT, None, SENT, SurveyStatus.CANCELLED),
        (SENT, SENT + timedelta(hours=1), None, EXPIRES + timedelta(days=1), SurveyStatus.CANCELLED),
    ],
)
def test_a_survey_is_scheduled_until_sent_open_until_it_expires_and_an_answer_outlives_expiry(
    sent_at: datetime | None, cancelled_at: datetime | None, answered_at: datetime | None, now: datetime, status: str
) -> None:
    assert status_at(
        sent_at=sent_at, cancelled_at=cancelled_at, answered_at=answered_at, expires_at=EXPIRES, now=now
    ) is SurveyStatus(status)


# --- timing -----------------------------------------------------------------------------------


def test_a_ticket_survey_is_due_the_delay_after_its_resolution() -> None:
    resolved = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert ticket_survey_due(resolved, delay=timedelta(hours=2)) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert ticket_survey_due(resolved, delay=timedelta(0)) == resolved


def test_a_new_customer_is_surveyed_a_week_after_the_first_cooperation() -> None:
    week = timedelta(days=7)
    seen = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    announced = datetime(2026, 11, 20, tzinfo=UTC)
    # the start date counts from local midnight where surveys are timed
    began = first_cooperation(customer_since=date(2026, 11, 1), first_seen_at=seen, fallback=announced, zone=BERLIN)
    assert onboarding_survey_due(began, delay=week) == datetime(2026, 11, 7, 23, 0, tzinfo=UTC)
    # without a start date, from when the loop first saw them; without either, from the announcement
    began = first_cooperation(customer_since=None, first_seen_at=seen, fallback=announced, zone=BERLIN)
    assert onboarding_survey_due(began, delay=week) == seen + week
    began = first_cooperation(customer_since=None, first_seen_at=None, fallback=announced, zone=BERLIN)
    assert onboarding_survey_due(began, delay=week) == announced + week


@pytest.mark.parametrize(
    ("instant", "zone", "label", "ends_at"),
    [
        (datetime(2026, 2, 14, 12, tzinfo=UTC), "UTC", "2026-Q1", datetime(2026, 4, 1, tzinfo=UTC)),
        (datetime(2026, 6, 30, 23, 59, tzinfo=UTC), "UTC", "2026-Q2", datetime(2026, 7, 1, tzinfo=UTC)),
        (datetime(2026, 11, 23, 9, tzinfo=UTC), "UTC", "2026-Q4", datetime(2027, 1, 1, tzinfo=UTC)),
        # 23:30 UTC on 31 December is already the new year in Berlin: the next quarter, ending
        # at Berlin's midnight (22:00 UTC in summer time)
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "Europe/Berlin", "2027-Q1", datetime(2027, 3, 31, 22, tzinfo=UTC)),
        # and 23:30 on 31 March in New York is still Q1 there, ending at 04:00 UTC on 1 April
        (datetime(2027, 4, 1, 3, 30, tzinfo=UTC), "America/New_York", "2027-Q1", datetime(2027, 4, 1, 4, tzinfo=UTC)),
    ],
)
def test_a_quarter_ends_at_local_midnight_of_the_next_quarters_first_day(
    instant: datetime, zone: str, label: str, ends_at: datetime
) -> None:
    quarter = quarter_of(instant, ZoneInfo(zone))
    assert (quarter.label, quarter.ends_at) == (label, ends_at)
    assert quarter_named(label, ZoneInfo(zone)) == quarter


def test_quarters_follow_each_other_across_the_year_end() -> None:
    q4 = quarter_of(datetime(2026, 11, 23, tzinfo=UTC), BERLIN)
    q1 = next_quarter(q4, BERLIN)
    assert (q1.label, q1.ends_at) == ("2027-Q1", datetime(2027, 4, 1, tzinfo=BERLIN))
    assert next_quarter(q1, BERLIN).label == "2027-Q2"


def test_a_resolution_the_ticket_was_reopened_after_is_stale() -> None:
    resolved = datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert not resolution_is_stale(resolved, last_reopened_at=None)
    assert not resolution_is_stale(resolved, last_reopened_at=resolved - timedelta(seconds=1))
    assert resolution_is_stale(resolved, last_reopened_at=resolved)
    assert resolution_is_stale(resolved, last_reopened_at=resolved + timedelta(hours=1))


# --- templates --------------------------------------------------------------------------------


def test_the_seeded_templates_are_valid_and_ask_what_the_spec_asks() -> None:
    for template in SEEDED.values():
        assert validate_template(template.questions) == [], template.id
    assert [(q.id, q.kind, q.required, q.min, q.max) for q in TICKET.questions] == [
        ("csat", QuestionKind.SCALE, True, 1, 5),
        ("comment", QuestionKind.TEXT, False, None, None),
    ]
    relationship = {q.id: q for q in RELATIONSHIP.questions}
    assert {d.value for d in Dimension} <= set(relationship)
    assert all((relationship[d.value].min, relationship[d.value].max) == (1, 10) for d in Dimension)
    assert (relationship["nps"].min, relationship["nps"].max) == (0, 10)
    assert relationship["nps_reason"].prompt_when_high and relationship["nps_reason"].prompt_when_low
    assert relationship["suggestions"].kind is QuestionKind.TEXT
    assert (relationship["contact_ok"].kind, relationship["contact_ok"].required) == (QuestionKind.YES_NO, False)


def _scale(qid: str, low: int, high: int, **extra: Any) -> Question:
    return Question(id=qid, kind=QuestionKind.SCALE, prompt="?", min=low, max=high, **extra)


@pytest.mark.parametrize(
    ("questions", "field", "reason_part"),
    [
        ([], "questions", "at least one"),
        ([_scale("csat", 1, 5), _scale("csat", 1, 5)], "questions[1].id", "used twice"),
        ([_scale("Bad Id", 1, 5)], "questions[0].id", "lower-case"),
        ([_scale("effort", 5, 5)], "questions[0].min", "greater max"),
        ([_scale("effort", 0, 100)], "questions[0].min", "within 0-10"),
        ([Question(id="effort", kind=QuestionKind.SCALE, prompt="?")], "questions[0].min", "needs min and max"),
        ([_scale("csat", 1, 10)], "questions[0].min", "scored 1-5"),
        ([_scale("nps", 1, 10)], "questions[0].min", "scored 0-10"),
        ([Question(id="csat", kind=QuestionKind.TEXT, prompt="?", max_length=10)], "questions[0].kind", "scale"),
        ([Question(id="note", kind=QuestionKind.TEXT, prompt="?")], "questions[0].max_length", "1-5000"),
        ([Question(id="note", kind=QuestionKind.TEXT, prompt=" ", max_length=9)], "questions[0].prompt", "prompt"),
        ([Question(id="ok", kind=QuestionKind.YES_NO, prompt="?", max_length=9)], "questions[0].max_length", "only"),
        (
            [Question(id="nps_reason", kind=QuestionKind.TEXT, prompt="?", max_length=9, prompt_when_high="why")],
            "questions[0].id",
            "needs an 'nps' question",
        ),
        (
            [_scale("nps", 0, 10), Question(id="nps_reason", kind=QuestionKind.TEXT, prompt="?", max_length=9)],
            "questions[1].prompt_when_high",
            "both",
        ),
        ([_scale("csat", 1, 5, prompt_when_low="why not")], "questions[0].prompt_when_high", "only 'nps_reason'"),
    ],
)
def test_a_template_that_cannot_be_rendered_or_reported_is_refused_with_each_reason(
    questions: list[Question], field: str, reason_part: str
) -> None:
    problems = validate_template(questions)
    assert [f for f, r in problems if reason_part in r] == [field], problems


# --- answers ----------------------------------------------------------------------------------


def _problems(template: Template, raw: dict[str, Any]) -> list[tuple[str, str]]:
    result = validate_answer(template, raw)
    assert isinstance(result, list), result
    return [(p.question, p.type) for p in result]


def test_an_answer_that_fits_its_template_keeps_trimmed_text_and_drops_blank_text() -> None:
    answer = validate_answer(TICKET, {"csat": 4, "comment": "  great  "})
    assert answer == Answer({"csat": 4, "comment": "great"})
    assert validate_answer(TICKET, {"csat": 1, "comment": "   "}) == Answer({"csat": 1})
    assert validate_answer(TICKET, {"csat": 1, "comment": None}) == Answer({"csat": 1})
    full = validate_answer(RELATIONSHIP, GOOD_RELATIONSHIP)
    assert isinstance(full, Answer)
    assert full.dimensions == {
        Dimension.QUALITY: 8,
        Dimension.RESPONSE_SPEED: 7,
        Dimension.RESOLUTION: 9,
        Dimension.CARE: 10,
        Dimension.OVERALL: 8,
    }
    assert (full.score("nps"), full.contact_ok, full.has_text) == (9, True, True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"csat": 4, "nps": 9}, [("nps", "unknown_question")]),  # the ticket survey asks no NPS
        ({"comment": "hi"}, [("csat", "missing")]),
        ({"csat": None}, [("csat", "missing")]),
        ({"csat": 0}, [("csat", "greater_than_equal")]),
        ({"csat": 6}, [("csat", "less_than_equal")]),
        ({"csat": "5"}, [("csat", "int_type")]),
        ({"csat": 4.0}, [("csat", "int_type")]),
        ({"csat": True}, [("csat", "int_type")]),
        ({"csat": 3, "comment": 42}, [("comment", "string_type")]),
        ({"csat": 3, "comment": "x" * 2001}, [("comment", "string_too_long")]),
        ({"csat": 3, "comment": "nul\x00byte"}, [("comment", "nul_byte")]),
        ({"csat": 3, "comment": "\ud800"}, [("comment", "invalid_unicode")]),
        ({"rating": 5, "csat": 9}, [("rating", "unknown_question"), ("csat", "less_than_equal")]),
    ],
)
def test_an_answer_is_checked_against_its_template_with_a_reason_per_question(
    raw: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert _problems(TICKET, raw) == expected


def test_relationship_answers_check_yes_no_and_every_required_score() -> None:
    assert _problems(RELATIONSHIP, {**GOOD_RELATIONSHIP, "contact_ok": "yes"}) == [("contact_ok", "bool_type")]
    missing = {k: v for k, v in GOOD_RELATIONSHIP.items() if k not in {"overall", "nps"}}
    assert _problems(RELATIONSHIP, missing) == [("overall", "missing"), ("nps", "missing")]
    optional = {k: v for k, v in GOOD_RELATIONSHIP.items() if k in {d.value for d in Dimension} | {"nps"}}
    assert isinstance(validate_answer(RELATIONSHIP, optional), Answer)
    assert Problem("nps", "missing", "m").as_detail() == {"loc": ["body", "nps"], "type": "missing", "msg": "m"}


def test_the_nps_reason_asks_why_from_seven_up_and_why_not_at_six_or_less() -> None:
    reason = next(q for q in RELATIONSHIP.questions if q.id == "nps_reason")
    assert reason.prompt_when_high is not None and reason.prompt_when_low is not None
    assert nps_reason_prompt(reason, 10) == nps_reason_prompt(reason, 7) == reason.prompt_when_high
    assert nps_reason_prompt(reason, 6) == nps_reason_prompt(reason, 0) == reason.prompt_when_low
    assert nps_reason_prompt(reason, None) == reason.prompt


# --- low scores -------------------------------------------------------------------------------

DEFAULTS = LowScoreThresholds(csat=2, overall=6, nps=6)


@pytest.mark.parametrize(
    ("values", "reasons"),
    [
        ({"csat": 2}, ["csat"]),
        ({"csat": 3}, []),
        ({"overall": 6, "nps": 7}, ["overall"]),
        ({"overall": 7, "nps": 6}, ["nps"]),
        ({"overall": 1, "nps": 0}, ["overall", "nps"]),
        ({"csat": 1, "overall": 10, "nps": 0}, ["csat", "nps"]),
        ({"quality": 1, "care": 1}, []),  # only overall counts among the dimensions
        ({}, []),
    ],
)
def test_a_low_score_names_each_threshold_it_is_at_or_under(values: dict[str, int], reasons: list[str]) -> None:
    assert low_score_reasons(Answer(values), DEFAULTS) == reasons


def test_the_low_score_thresholds_are_settings() -> None:
    strict = LowScoreThresholds(csat=4, overall=8, nps=8)
    assert low_score_reasons(Answer({"csat": 4, "overall": 8, "nps": 8}), strict) == ["csat", "overall", "nps"]


# --- tokens and links -------------------------------------------------------------------------


def test_issued_tokens_are_unique_url_safe_and_recognised() -> None:
    tokens = {new_bearer() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(is_token_shaped(t) and len(t) == 32 for t in tokens)
    # what the database keeps of one: its SHA-256 in hex, never the token
    assert bearer_digest("abc") == hashlib.sha256(b"abc").hexdigest()
    assert survey_link("https://s.example", "abc") == "https://s.example/v1/surveys/abc"


@pytest.mark.parametrize("token", ["", "short", "x" * 65, "has space in it, so not a token", "nul\x00" * 8, "é" * 32])
def test_junk_is_never_taken_for_a_token(token: str) -> None:
    assert not is_token_shaped(token)


# --- settings ---------------------------------------------------------------------------------


def test_the_survey_timing_defaults_are_the_specs() -> None:
    settings = FeedbackSettings()
    assert settings.ticket_survey_delay == timedelta(hours=2)
    assert settings.onboarding_survey_delay == timedelta(days=7)
    assert settings.reminder_delay == timedelta(hours=72)
    assert settings.zone == ZoneInfo("UTC")
    assert (settings.low_score_csat_max, settings.low_score_overall_max, settings.low_score_nps_max) == (2, 6, 6)


def test_the_ticket_survey_delay_is_at_most_48_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETLOOP_FEEDBACK_TICKET_SURVEY_DELAY_MINUTES", "0")
    assert FeedbackSettings().ticket_survey_delay == timedelta(0)
    assert FeedbackSettings(ticket_survey_delay_minutes=48 * 60).ticket_survey_delay == timedelta(hours=48)
    for bad in (48 * 60 + 1, -1):
        with pytest.raises(ValidationError, match="ticket_survey_delay_minutes"):
            FeedbackSettings(ticket_survey_delay_minutes=bad)


def test_an_unknown_survey_time_zone_is_refused() -> None:
    assert FeedbackSettings(survey_time_zone="Europe/Berlin").zone == BERLIN
    with pytest.raises(ValidationError, match="unknown time zone"):
        FeedbackSettings(survey_time_zone="Mars/Olympus_Mons")


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
        FeedbackSettings(platform=production, master_key=SecretStr("m" * 48))
    reachable = FeedbackSettings(
        platform=production, public_base_url="https://feedback.example.com", master_key=SecretStr("m" * 48)
    )
    assert reachable.platform.env == "production"


# --- the API document -------------------------------------------------------------------------


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
    # Notifier only (see the integration tests): the list, and one survey's for intake's channel webhooks.
    assert given_links == {"GET /v1/survey-deliveries", "GET /v1/survey-deliveries/{survey_id}"}
    assert answering == {"POST /v1/surveys/{token}"}  # the link itself, no staff token


# --- what a customer wrote ----------------------------------------------------------------------


def test_texts_are_stored_apart_from_the_scores_their_places_kept() -> None:
    stored, texts = split_texts({"csat": 2, "comment": "slow, write to me@example.com", "contact_ok": True})
    assert stored == {"csat": 2, "comment": None, "contact_ok": True}
    assert texts == {"comment": "slow, write to me@example.com"}
    assert with_texts(stored, texts, erased="[erased]") == {
        "csat": 2,
        "comment": "slow, write to me@example.com",
        "contact_ok": True,
    }


def test_texts_that_can_no_longer_be_read_show_as_erased() -> None:
    stored, _ = split_texts({"nps": 3, "nps_reason": "never again", "suggestion": "hire people"})
    assert with_texts(stored, None, erased="[erased]") == {
        "nps": 3,
        "nps_reason": "[erased]",
        "suggestion": "[erased]",
    }


def test_an_answer_without_text_stores_none() -> None:
    assert split_texts({"csat": 5}) == ({"csat": 5}, {})
    assert texts_field("a") != texts_field("b")
