"""Logs are JSON lines, quiet under a repeating failure, and never carry the customer data that
database and validation errors echo."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from ticketloop_shared.logging import JsonFormatter, RateLimit, Redact, redact, uvicorn_log_config


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str = "query failed: %s", *args: object, level: int = logging.ERROR, name: str = "svc"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


def failing(exc: BaseException, msg: str = "unhandled error") -> logging.LogRecord:
    rec = record(msg)
    rec.exc_info = (type(exc), exc, exc.__traceback__)
    return rec


def test_a_repeating_failure_is_one_line_per_interval_with_a_suppressed_count() -> None:
    clock = FakeClock()
    limit = RateLimit(10, clock=clock)
    assert limit.filter(record("db down for %s", "request 1"))
    assert not limit.filter(record("db down for %s", "request 2"))  # same template: same kind
    assert not limit.filter(record("db down for %s", "request 3"))
    clock.now += 10
    nxt = record("db down for %s", "request 4")
    assert limit.filter(nxt)
    assert nxt.suppressed == 2  # type: ignore[attr-defined]
    clock.now += 10
    quiet = record("db down for %s", "request 5")
    assert limit.filter(quiet) and not hasattr(quiet, "suppressed")


def test_kinds_differ_by_logger_template_and_exception_type() -> None:
    limit = RateLimit(10, clock=FakeClock())
    assert limit.filter(failing(ConnectionError()))
    assert limit.filter(failing(ValueError()))  # another exception type
    assert limit.filter(record(name="other"))
    assert limit.filter(record("another template"))
    assert not limit.filter(failing(ConnectionError()))


def test_info_lines_are_never_rate_limited() -> None:
    limit = RateLimit(10, clock=FakeClock())
    assert all(limit.filter(record("ticket created", level=logging.INFO)) for _ in range(5))


def test_the_rate_limiter_forgets_kinds_to_bound_its_memory() -> None:
    clock = FakeClock()
    limit = RateLimit(10, max_kinds=3, clock=clock)
    for i in range(10):
        assert limit.filter(record(f"kind {i}"))
        clock.now += 1
    assert len(limit._kinds) <= 3


SQL_ERROR = IntegrityError(
    "INSERT INTO tickets (customer_name, customer_contact) VALUES ($1, $2)",
    ("Jane Doe", "jane@example.com"),
    Exception("new row violates check constraint\nDETAIL:  Failing row contains (Jane Doe, jane@example.com)."),
)


def test_redact_strips_statement_parameters_and_row_values() -> None:
    text = str(SQL_ERROR)
    assert "Jane Doe" in text  # what SQLAlchemy puts in its message when parameters are not hidden
    cleaned = redact(text)
    assert "Jane Doe" not in cleaned and "jane@example.com" not in cleaned
    assert "INSERT INTO tickets" in cleaned and "[parameters: redacted]" in cleaned and "DETAIL:  redacted" in cleaned
    asyncpg = "invalid input for query argument $3: 'Jane Doe' (expected int)"
    assert redact(asyncpg) == "invalid input for query argument $3: redacted"


def test_redact_strips_the_input_pydantic_echoes() -> None:
    class Customer(BaseModel):
        age: int

    try:
        Customer.model_validate({"age": "Jane Doe"})
    except ValueError as exc:
        text = str(exc)
    assert "Jane Doe" in text
    assert "Jane Doe" not in redact(text) and "input_type=str" in redact(text)


def test_the_redact_filter_cleans_message_extras_and_exception_text() -> None:
    try:
        raise SQL_ERROR
    except IntegrityError as exc:
        rec = failing(exc, msg="failed: %s")
    rec.args = (str(SQL_ERROR),)
    rec.__dict__["error"] = str(SQL_ERROR)
    assert Redact().filter(rec)
    line = JsonFormatter("svc").format(rec)
    assert "Jane Doe" not in line and "jane@example.com" not in line
    entry = json.loads(line)
    assert "IntegrityError" in entry["exc"] and "[parameters: redacted]" in entry["msg"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate, logging.getLogger(n).level) for n in names
    }
    try:
        yield
    finally:
        for n, (handlers, propagate, level) in saved.items():
            logger = logging.getLogger(n)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)


def test_uvicorn_lines_are_json_through_the_same_filters(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    logging.config.dictConfig(uvicorn_log_config("intake", level="INFO"))
    for _ in range(3):
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    logging.getLogger("uvicorn.error").error("bind failed: %s", "[parameters: ('Jane Doe',)]")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["service"], e["logger"], e["msg"]) for e in lines] == [
        ("intake", "uvicorn.error", "Invalid HTTP request received."),
        ("intake", "uvicorn.error", "bind failed: [parameters: redacted]"),
    ]
