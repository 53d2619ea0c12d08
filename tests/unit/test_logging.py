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

from ticketloop_shared.logging import JsonFormatter, RateLimit, Redact, log_handler, redact, uvicorn_log_config


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


def test_a_repeating_failure_is_one_line_per_interval_with_a_folded_count() -> None:
    clock = FakeClock()
    limit = RateLimit(10, clock=clock)
    assert limit.filter(record("db down for %s", "request 1"))
    assert not limit.filter(record("db down for %s", "request 2"))  # same template: same kind
    assert not limit.filter(record("db down for %s", "request 3"))
    clock.now += 10
    nxt = record("db down for %s", "request 4")
    assert limit.filter(nxt)
    assert nxt.folded == 2  # type: ignore[attr-defined]
    clock.now += 10
    quiet = record("db down for %s", "request 5")
    assert limit.filter(quiet) and not hasattr(quiet, "folded")


def test_kinds_differ_by_logger_template_and_exception_type() -> None:
    limit = RateLimit(10, clock=FakeClock())
    assert limit.filter(failing(ConnectionError()))
    assert limit.filter(failing(ValueError()))  # another exception type
    assert limit.filter(record(name="other"))
    assert limit.filter(record("another template"))
    assert not limit.filter(failing(ConnectionError()))


def raise_at_the_calendar(message: str) -> BaseException:
    try:
        raise KeyError(message)  # one site...
    except KeyError as exc:
        return exc


def raise_at_the_policy(message: str) -> BaseException:
    try:
        raise KeyError(message)  # ...another, with the same type and message
    except KeyError as exc:
        return exc


def test_two_different_failures_behind_one_message_are_both_logged_with_their_tracebacks() -> None:
    """The calendar 500 that left no traceback: another 500 ("unhandled error") had just been logged."""
    limit = RateLimit(10, clock=FakeClock())
    first, second = failing(raise_at_the_policy("x")), failing(raise_at_the_calendar("x"))
    assert limit.filter(first) and limit.filter(second)
    assert first.exc_info and second.exc_info
    formatter = JsonFormatter("svc")
    assert "raise_at_the_policy" in json.loads(formatter.format(first))["exc"]
    assert "raise_at_the_calendar" in json.loads(formatter.format(second))["exc"]
    assert limit.filter(failing(ValueError("x")))  # another type at a third site
    assert limit.filter(failing(raise_at_the_calendar("x"), msg="another message entirely")) is False


def test_the_second_to_nth_of_a_kind_are_folded_and_counted_on_the_next_let_through() -> None:
    clock = FakeClock()
    limit = RateLimit(10, clock=clock)
    assert limit.filter(failing(raise_at_the_calendar("x")))
    assert [limit.filter(failing(raise_at_the_calendar(f"ticket {n}"))) for n in range(17)] == [False] * 17
    clock.now += 10
    nxt = failing(raise_at_the_calendar("again"))
    assert limit.filter(nxt) and nxt.folded == 17  # type: ignore[attr-defined]


def test_a_folded_count_is_reported_when_the_window_ends_without_another_of_its_kind() -> None:
    clock = FakeClock()
    reported: list[logging.LogRecord] = []
    limit = RateLimit(10, clock=clock, report=reported.append)
    assert limit.filter(failing(raise_at_the_policy("x")))
    for _ in range(3):
        assert not limit.filter(failing(raise_at_the_policy("x")))
    clock.now += 5
    assert limit.filter(record("something else")) and reported == []  # the window is still open
    clock.now += 5
    assert limit.filter(record("info", level=logging.INFO))  # any record after the window ends
    [summary] = reported
    assert summary.folded == 3  # type: ignore[attr-defined]
    assert summary.getMessage() == "repeats folded: builtins.KeyError"
    assert "test_logging.py" in summary.kind  # type: ignore[attr-defined]
    assert limit.filter(summary)  # the report itself is never folded
    limit.filter(record("info", level=logging.INFO))
    assert len(reported) == 1  # said once


def test_the_folded_report_reaches_the_log_through_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    handler = log_handler("svc")
    [limit] = [f for f in handler.filters if isinstance(f, RateLimit)]
    clock = FakeClock()
    limit.clock = clock
    for _ in range(4):
        handler.handle(failing(raise_at_the_policy("x")))
    clock.now += 11
    handler.handle(record("later", level=logging.INFO))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["msg"], line.get("folded")) for line in lines] == [
        ("unhandled error", None),
        ("repeats folded: builtins.KeyError", 3),
        ("later", None),
    ]


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
