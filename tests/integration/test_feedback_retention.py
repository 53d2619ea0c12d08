"""Retention in feedback: what customers wrote in a survey answer is erased in place a year
after answering (the scores stay, so reports still count them); younger answers keep theirs;
the dry run changes nothing; 0 keeps forever."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.test_feedback_surveys import (
    GOOD_ANSWER,
    NOW,
    NewDatabase,
    answer,
    feedback_settings,
    link_path,
    sent_survey,
    stored_texts,
)
from tests.support import RunningService, admin_headers, serve
from ticketloop_feedback.app import create_app
from ticketloop_feedback.retention.scheduled import apply_retention
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings

LATER = NOW + timedelta(days=400)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def feedback(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = feedback_settings(platform, await new_database("feedback"), retention_enabled=False)
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def answered(feedback: RunningService, platform: PlatformSettings, clock: FrozenClock) -> str:
    _, survey = await sent_survey(feedback, platform, clock)
    r = await answer(feedback, link_path(survey["link"]), GOOD_ANSWER)
    assert r.status_code in (200, 201), r.text
    return str(survey["id"])


async def dry_run(feedback: RunningService) -> dict[str, dict[str, Any]]:
    r = await feedback.client.get("/v1/retention", headers=admin_headers())
    assert r.status_code == 200, r.text
    return {c["data_class"]: c for c in r.json()["classes"]}


async def test_survey_texts_are_erased_a_year_after_answering_and_younger_ones_kept(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    old = await answered(feedback, platform, clock)
    clock.set(LATER)
    young = await answered(feedback, platform, clock)
    sealed_old = await stored_texts(feedback, old)

    report = await dry_run(feedback)
    assert (report["survey_texts"]["due"], report["survey_texts"]["keep_days"]) == (1, 365)
    assert report["survey_texts"]["setting"] == "TICKETLOOP_FEEDBACK_RETAIN_SURVEY_TEXTS_DAYS"
    assert await stored_texts(feedback, old) == sealed_old  # the dry run changed nothing

    done = {c.data_class: c.done for c in await apply_retention(feedback.runtime)}

    assert done == {"survey_texts": 1, "audit_entries": 0}
    answers, texts = await stored_texts(feedback, old)
    assert texts == b"\x02" and answers is not None and answers["csat"] == 4  # the score stays
    assert (await stored_texts(feedback, young))[1] not in (None, b"\x02")
    assert (await dry_run(feedback))["survey_texts"]["due"] == 0


async def test_a_limit_of_0_keeps_survey_texts_forever(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    old = await answered(feedback, platform, clock)
    clock.set(NOW + timedelta(days=5000))
    feedback.runtime.settings.retain_survey_texts_days = 0
    feedback.runtime.settings.retain_audit_days = 0

    assert (await dry_run(feedback))["survey_texts"]["keep_days"] is None
    assert all(c.done == 0 for c in await apply_retention(feedback.runtime))
    assert (await stored_texts(feedback, old))[1] not in (None, b"\x02")
