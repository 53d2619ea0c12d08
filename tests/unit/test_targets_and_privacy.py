"""Response-time targets and contact masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_shared.privacy import mask_contact
from ticketloop_shared.targets import ResponseTargets, deadlines_for

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_text_channels_get_15_minutes_and_voice_3() -> None:
    targets = ResponseTargets()
    assert deadlines_for(targets, channel="web", received_at=AT).first_response_due == AT + timedelta(minutes=15)
    assert deadlines_for(targets, channel="phone", received_at=AT).first_response_due == AT + timedelta(minutes=3)
    due = deadlines_for(targets, channel="email", received_at=AT)
    assert due.acknowledgement_due == AT + timedelta(minutes=10)
    assert due.resolution_due == AT + timedelta(hours=2)


def test_targets_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETLOOP_TARGET_FIRST_RESPONSE_TEXT_MINUTES", "7.5")
    due = deadlines_for(ResponseTargets(), channel="web", received_at=AT)
    assert due.first_response_due == AT + timedelta(minutes=7.5)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("jane.doe@example.com", "j*******@example.com"),
        ("+86 138 0013 8000", "*************8000"),
        ("12345", "****5"),
        (None, None),
    ],
)
def test_contacts_are_masked(raw: str | None, masked: str | None) -> None:
    assert mask_contact(raw) == masked
