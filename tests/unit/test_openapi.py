"""Every service documents its API: the OpenAPI document builds and lists the endpoints, and
every data-changing endpoint declares how it is authenticated or why it needs no login."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from ticketloop_embedded.services import SERVICES

# The survey link and the customer's confirm-or-reopen link need no login by design.
PUBLIC_WRITES = {
    ("feedback", "/v1/surveys/{token}"),
    ("intake", "/v1/customer-links/{token}/confirm"),
    ("intake", "/v1/customer-links/{token}/reopen"),
}


def openapi(name: str) -> dict[str, Any]:
    module = importlib.import_module(f"ticketloop_{name}.app")
    spec: dict[str, Any] = module.create_app().openapi()
    return spec


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_the_openapi_document_lists_versioned_endpoints_and_operations(name: str) -> None:
    spec = openapi(name)
    paths = spec["paths"]
    assert any(p.startswith("/v1/") for p in paths)
    assert {"/health/live", "/health/ready", "/metrics"} <= set(paths)
    for path, operations in paths.items():
        for method, op in operations.items():
            assert op.get("description") or op.get("summary"), f"{method.upper()} {path} is undocumented"


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_every_data_changing_endpoint_requires_credentials(name: str) -> None:
    for path, operations in openapi(name)["paths"].items():
        for method, op in operations.items():
            if method not in {"post", "put", "patch", "delete"} or (name, path) in PUBLIC_WRITES:
                continue
            params = {p["name"].lower() for p in op.get("parameters", [])}
            assert params & {"authorization", "x-api-key"} or op.get("security"), f"{method.upper()} {path}"
