"""The shared input types refuse what PostgreSQL or Python cannot hold, and every service's OpenAPI
document promises each error status it can answer, in the one error shape."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ticketloop_embedded.services import SERVICES
from ticketloop_shared.validation import NO_NUL_PATTERN, FiniteFloat, Instant, Text


class Sample(BaseModel):
    text: Text | None = None
    amount: FiniteFloat | None = None
    at: Instant | None = None


def refusal(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(fields)
    [error] = caught.value.errors()
    return str(error["type"])


def test_text_refuses_nul_bytes_and_lone_surrogates() -> None:
    assert refusal(text="a\x00b") == "nul_byte"
    assert refusal(text="a\ud800b") == "invalid_unicode"
    assert Sample(text="Zoë 👋").text == "Zoë 👋"


def test_floats_must_be_finite() -> None:
    for value in (float("inf"), float("-inf"), float("nan")):
        assert refusal(amount=value) == "finite_number"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-12-31T23:59:59Z", "9001-01-01T00:00:00Z"]
)
def test_instants_must_convert_to_utc_and_lie_in_sane_years(value: str) -> None:
    assert refusal(at=value) == "datetime_out_of_range"


def test_an_ordinary_instant_passes_unchanged() -> None:
    assert Sample(at="2026-11-23T10:00:00+01:00").at == datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_the_nul_rule_is_in_the_json_schema() -> None:
    text_schema = Sample.model_json_schema()["properties"]["text"]["anyOf"][0]
    assert text_schema["pattern"] == NO_NUL_PATTERN


def openapi(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = importlib.import_module(f"ticketloop_{name}.app").create_app().openapi()
    return spec


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_every_operation_documents_its_errors_in_the_error_shape(name: str) -> None:
    spec = openapi(name)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in operations.items():
            responses = op["responses"]
            assert "500" not in responses
            assert "503" in responses and "Retry-After" in responses["503"]["headers"], f"{method} {path}"
            if op.get("parameters") or "requestBody" in op:
                assert "422" in responses, f"{method} {path}"
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(responses), f"{method} {path}"
            if op.get("security"):
                assert {"401", "403"} <= set(responses), f"{method} {path}"
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == error_ref, f"{method} {path} {status}"
