"""The shared input types refuse what PostgreSQL or Python cannot hold, and every service's OpenAPI
document promises each error status it can answer, in the one error shape."""

from __future__ import annotations

import importlib
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from ticketloop_embedded.services import SERVICES, WORKSPACE
from ticketloop_shared.guards import storable_body
from ticketloop_shared.validation import NO_NUL_PATTERN, Change, FiniteFloat, Instant, Text, sane_instant


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


@pytest.mark.parametrize("char", ["\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff"])
def test_text_refuses_unicode_non_characters(char: str) -> None:
    assert refusal(text=f"a{char}b") == "noncharacter"


def test_text_keeps_what_merely_looks_odd() -> None:
    for fine in ("\ufffd", "\ufdcf", "\ufdf0", "\U0001f600", "\U0010fffd", "\u200b"):
        assert Sample(text=fine).text == fine


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


def flat(dependant: Dependant) -> list[Any]:
    return [dependant.call, *(call for sub in dependant.dependencies for call in flat(sub))]


APPS = [s.name for s in (*SERVICES, WORKSPACE)]


@pytest.mark.parametrize("name", APPS)
def test_every_route_that_takes_a_body_runs_the_one_string_guard(name: str) -> None:
    app = importlib.import_module(f"ticketloop_{name}.app").create_app()
    # A route context answers for the route as included, with the app's and routers' dependencies.
    routes = [
        ctx
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute) and ctx.body_field is not None
    ]
    assert routes or name == WORKSPACE.name  # the workspace takes forms, read and checked by itself
    unguarded = [f"{ctx.methods} {ctx.path}" for ctx in routes if storable_body not in flat(ctx.dependant)]
    assert not unguarded


def _bad_body(
    schema: dict[str, Any], spec: dict[str, Any], loc: tuple[str | int, ...], found: list[tuple[Any, ...]]
) -> Any:
    """A body of `schema`'s shape with a non-character in every string it can hold (keys too);
    the locations of those strings go to `found`."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    options = [o for o in schema.get("anyOf", schema.get("oneOf", [])) if o.get("type") != "null"]
    if options:
        return _bad_body(options[0], spec, loc, found)
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        body = {key: _bad_body(sub, spec, (*loc, key), found) for key, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            names = schema.get("propertyNames", {})
            key = names["enum"][0] if "enum" in names else "key\ufffe"
            if key == "key\ufffe":
                found.append((*loc, key))
            body[key] = _bad_body(extra, spec, (*loc, key), found)
        return body
    if kind == "array":
        return [_bad_body(schema.get("items", {}), spec, (*loc, 0), found)]
    if kind == "string" or kind is None:
        found.append(loc)
        return "x\ufffe"
    return {"integer": 1, "number": 1.5, "boolean": True}.get(kind)


@pytest.mark.parametrize("name", APPS)
def test_no_string_field_of_any_request_body_escapes_the_guard(name: str) -> None:
    """Walk every operation's request schema in the OpenAPI document, put a non-character in every
    string field it has (nested ones and object keys too), and expect each of them refused by name,
    before authentication."""
    app = importlib.import_module(f"ticketloop_{name}.app").create_app()
    spec = app.openapi()
    client = TestClient(app)
    checked = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                continue
            found: list[tuple[Any, ...]] = []
            body = _bad_body(schema, spec, ("body",), found)
            if not found:  # a body of numbers and enums only
                continue
            url = path.replace("{", "").replace("}", "")
            response = client.request(method.upper(), url, json=body)
            assert response.status_code == 422, f"{method} {path}: {response.text}"
            refused = {tuple(d["loc"]) for d in response.json()["error"]["details"] if d["type"] == "noncharacter"}
            assert set(found) <= refused, f"{method} {path}: {set(found) - refused}"
            checked += len(found)
    assert checked or name == WORKSPACE.name


class ItemChange(Change):
    clearable = frozenset({"notes"})

    status: str | None = None
    notes: str | None = None


def test_a_change_refuses_null_for_what_cannot_be_cleared() -> None:
    with pytest.raises(ValidationError) as caught:
        ItemChange.model_validate({"status": None})
    [error] = caught.value.errors()
    assert (error["type"], error["loc"]) == ("null_not_allowed", ("status",))
    assert ItemChange.model_validate({"notes": None}).model_fields_set == {"notes"}
    assert ItemChange.model_validate({}).model_fields_set == set()


def test_a_change_documents_null_only_where_it_clears() -> None:
    properties = ItemChange.model_json_schema()["properties"]
    assert properties["status"] == {"title": "Status", "type": "string"}
    assert {"type": "null"} in properties["notes"]["anyOf"]


@pytest.mark.parametrize("path", ["/v1/policies/p1", "/v1/calendars/c1"])
def test_sla_refuses_a_nul_byte_in_a_name(path: str) -> None:
    """Was a 500: sla's `name` was the one string field without the NUL rule."""
    client = TestClient(importlib.import_module("ticketloop_sla.app").create_app())
    response = client.put(path, json={"name": "Gold\x00", "holidays": [{"day": "2026-12-25", "name": "\ufdd0"}]})
    assert response.status_code == 422
    details = {(tuple(d["loc"]), d["type"]) for d in response.json()["error"]["details"]}
    assert details == {(("body", "name"), "nul_byte"), (("body", "holidays", 0, "name"), "noncharacter")}


def _is_datetime(kind: Any) -> bool:
    """`datetime` itself, or one of pydantic's datetime types (`AwareDatetime`, `PastDatetime`…)."""
    return kind is datetime or (
        isinstance(kind, type) and kind.__module__.startswith("pydantic") and kind.__name__.endswith("Datetime")
    )


def _datetimes_without_a_sane_range(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Every field of `model` (and of the models it holds) typed as a datetime without the
    `Instant` check, as `Model.field`."""
    if model in seen:
        return []
    seen.add(model)
    loose = []
    for name, field in model.model_fields.items():
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        if any(_is_datetime(k) for k in kinds):
            checks = [getattr(m, "func", None) for m in field.metadata]
            if sane_instant not in checks:
                loose.append(f"{model.__name__}.{name}")
        for kind in kinds:
            for inner in (kind, *typing.get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    loose += _datetimes_without_a_sane_range(inner, seen)
    return loose


@pytest.mark.parametrize("name", APPS)
def test_every_instant_a_request_takes_is_checked_for_a_sane_year(name: str) -> None:
    """An instant in a request body (a due date, a replay range) converts to UTC and lies in sane
    years (`Instant`): year 1 with an offset was stored and answered without one (found by `make
    fuzz` on a rectification's `due_at`)."""
    app = importlib.import_module(f"ticketloop_{name}.app").create_app()
    loose: list[str] = []
    seen: set[type[BaseModel]] = set()
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute) and ctx.body_field is not None:
            body = ctx.body_field.field_info.annotation
            for kind in (body, *typing.get_args(body)):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    loose += _datetimes_without_a_sane_range(kind, seen)
    assert loose == [], loose
