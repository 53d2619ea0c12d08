"""Settings refuse development placeholders in production."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.metrics import scrape_allowed
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


def test_the_metrics_token_is_unset_when_empty_and_refused_when_short() -> None:
    assert PlatformSettings(metrics_token=SecretStr("")).metrics_token is None  # compose's `${VAR:-}`
    assert PlatformSettings().metrics_token is None
    with pytest.raises(ValueError, match="TICKETLOOP_METRICS_TOKEN"):
        PlatformSettings(metrics_token=SecretStr("short"))


def test_the_metrics_token_is_compared_as_a_bearer_token() -> None:
    token = SecretStr("scrape-me-0123456789")
    assert scrape_allowed(None, None)
    assert scrape_allowed(token, "Bearer scrape-me-0123456789") and scrape_allowed(token, "bearer scrape-me-0123456789")
    assert not scrape_allowed(token, None) and not scrape_allowed(token, "Bearer scrape-me")
    assert not scrape_allowed(token, "Basic scrape-me-0123456789")
