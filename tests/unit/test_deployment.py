"""docker-compose.yml, read without a Docker engine: every service is built from the repo,
configured only with settings that exist, health-checked, and started after its dependencies."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from ticketloop_embedded.services import SERVICES
from ticketloop_shared.settings import PlatformSettings

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def settings_class(name: str) -> type[BaseSettings]:
    module = importlib.import_module(f"ticketloop_{name}.settings")
    cls: type[BaseSettings] = getattr(module, f"{name.capitalize()}Settings")
    return cls


def test_kafka_runs_in_kraft_mode_and_postgres_is_health_checked(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in str(kafka["environment"]).upper()
    assert compose["services"]["postgres"]["healthcheck"]["test"]
    assert kafka["healthcheck"]["test"]


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_each_service_is_built_from_the_repo_and_configured_with_real_settings(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    assert service["build"]["args"]["SERVICE"] == name
    assert (ROOT / "services" / name / "pyproject.toml").exists()
    assert service["healthcheck"]["test"] and "/health/ready" in str(service["healthcheck"]["test"])
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    own_prefix = f"TICKETLOOP_{name.upper()}_"
    own_fields = set(settings_class(name).model_fields)
    for key in service["environment"]:
        if key.startswith(own_prefix):
            assert key.removeprefix(own_prefix).lower() in own_fields, key
        else:
            assert key.removeprefix("TICKETLOOP_").lower() in PlatformSettings.model_fields, key
    env = service["environment"]
    assert env["TICKETLOOP_ENV"] == "production"
    assert env[f"{own_prefix}HTTP_HOST"] == "0.0.0.0"
    assert env[f"{own_prefix}DATABASE_URL"].endswith(f"/ticketloop_{name}")
    if name == "intake":  # production refuses to start without the key that wraps customers' data keys
        assert env["TICKETLOOP_INTAKE_MASTER_KEY"].startswith("${TICKETLOOP_INTAKE_MASTER_KEY:?")


def test_the_dockerfile_installs_the_service_named_by_its_build_arg() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG SERVICE" in dockerfile
    assert "-c requirements.lock" in dockerfile
    assert "python -m ticketloop_${SERVICE}" in dockerfile
