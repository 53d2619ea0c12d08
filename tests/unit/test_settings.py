"""Settings refuse development placeholders in production."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.settings import PlatformSettings


def test_production_needs_a_real_secret() -> None:
    with pytest.raises(ValidationError, match="TICKETLOOP_AUTH_SECRET"):
        PlatformSettings(env="production")
    PlatformSettings(env="production", auth_secret=SecretStr("x" * 40))


def test_production_refuses_the_development_channel_key() -> None:
    platform = PlatformSettings(env="production", auth_secret=SecretStr("x" * 40))
    with pytest.raises(ValidationError, match="DEV_CHANNEL_KEY"):
        IntakeSettings(platform=platform)
    assert IntakeSettings(platform=platform, dev_channel_key="").dev_channel_key is None


def test_production_needs_intake_master_key() -> None:
    platform = PlatformSettings(env="production", auth_secret=SecretStr("x" * 40))
    with pytest.raises(ValidationError, match="TICKETLOOP_INTAKE_MASTER_KEY"):
        IntakeSettings(platform=platform, dev_channel_key="", master_key=None)
    with pytest.raises(ValidationError, match="TICKETLOOP_INTAKE_MASTER_KEY"):
        IntakeSettings(platform=platform, dev_channel_key="", master_key=SecretStr("short"))
    settings = IntakeSettings(platform=platform, dev_channel_key="", master_key=SecretStr("k" * 40))
    assert len(settings.data_master_key) == 32


def test_production_needs_feedback_master_key() -> None:
    platform = PlatformSettings(env="production", auth_secret=SecretStr("s" * 40))
    url = "https://feedback.example.com"
    with pytest.raises(ValidationError, match="TICKETLOOP_FEEDBACK_MASTER_KEY"):
        FeedbackSettings(platform=platform, public_base_url=url, master_key=None)
    with pytest.raises(ValidationError, match="TICKETLOOP_FEEDBACK_MASTER_KEY"):
        FeedbackSettings(platform=platform, public_base_url=url, master_key=SecretStr("short"))
    settings = FeedbackSettings(platform=platform, public_base_url=url, master_key=SecretStr("k" * 40))
    assert len(settings.data_master_key) == 32
