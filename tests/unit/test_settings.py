"""Settings refuse development placeholders in production; a local database URL finds the embedded
PostgreSQL's password."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ticketloop_embedded.postgres import HBA, requires_password, scram_verifier
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.metrics import scrape_allowed
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.settings import SlaSettings


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


def test_a_local_database_url_without_a_password_takes_the_installs_password(tmp_path: Path) -> None:
    password_file = tmp_path / "postgres-password"
    platform = PlatformSettings(database_password_file=password_file)
    local = "postgresql+asyncpg://postgres@127.0.0.1:55432/ticketloop_sla"
    assert SlaSettings(platform=platform, database_url=local).database_url == local  # no file: left alone
    assert not password_file.exists()  # and none is made: only the server's starter makes it
    password_file.write_text("s3cret-Pass_word\n")
    assert SlaSettings(platform=platform, database_url=local).database_url == (
        "postgresql+asyncpg://postgres:s3cret-Pass_word@127.0.0.1:55432/ticketloop_sla"
    )
    assert SlaSettings(platform=platform).database_url.startswith("postgresql+asyncpg://postgres:s3cret-Pass_word@")
    for kept in (
        "postgresql+asyncpg://app:other@127.0.0.1:55432/ticketloop_sla",  # a password of its own
        "postgresql+asyncpg://postgres@db.internal:5432/ticketloop_sla",  # another machine
    ):
        assert SlaSettings(platform=platform, database_url=kept).database_url == kept


def test_only_a_pg_hba_asking_every_connection_for_a_password_is_kept() -> None:
    assert requires_password(HBA)
    trusting = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    assert not requires_password(trusting)
    assert not requires_password(HBA + "local all all peer\n")
    assert not requires_password("# nothing but comments\n")


def test_the_scram_verifier_has_postgresqls_shape_and_never_the_password() -> None:
    verifier = scram_verifier("pencil", salt=b"0123456789abcdef")
    assert verifier == scram_verifier("pencil", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$") and "pencil" not in verifier
    assert scram_verifier("pencil") != scram_verifier("pencil")  # a fresh salt each time


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
