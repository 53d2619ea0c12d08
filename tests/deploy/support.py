"""What the deployment tests share: the repository's root, each service's settings class, and
checks that an environment names only settings that exist and starts a service in production."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from ticketloop_shared.settings import PlatformSettings

ROOT = Path(__file__).parents[2]
SERVICE_NAMES = ("intake", "routing", "sla", "feedback", "retrospective")
# The staff's web application: no database and no consumer group; it calls the services above.
WORKSPACE = "workspace"
PROCESS_NAMES = (*SERVICE_NAMES, WORKSPACE)


def settings_class(name: str) -> type[BaseSettings]:
    """The service's `<Name>Settings` class."""
    module = importlib.import_module(f"ticketloop_{name}.settings")
    cls: type[BaseSettings] = getattr(module, f"{name.capitalize()}Settings")
    return cls


def assert_real_settings(name: str, keys: Iterable[str]) -> None:
    """Every key is one of the service's own settings (`TICKETLOOP_<SERVICE>_*`) or a platform one."""
    own_prefix = f"TICKETLOOP_{name.upper()}_"
    own_fields = set(settings_class(name).model_fields)
    for key in keys:
        if key.startswith(own_prefix):
            assert key.removeprefix(own_prefix).lower() in own_fields, key
        else:
            assert key.startswith("TICKETLOOP_"), key
            assert key.removeprefix("TICKETLOOP_").lower() in PlatformSettings.model_fields, key


def build_settings(name: str, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> BaseSettings:
    """The service's settings as it would build them from exactly this environment."""
    for key in [k for k in os.environ if k.startswith("TICKETLOOP_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings_class(name)()
