"""Structured logs: one JSON object per line on stdout, with the service and replica names on
every line (and, while tracing is on, the trace and span ids of the work that logged it).

Two filters sit on the handler: `RateLimit` folds a failure that repeats on every request to one
line per interval (by exception type and where it was raised, saying how many it folded), and
`Redact` strips the customer data that database and validation errors echo (statement parameters,
PostgreSQL's DETAIL, pydantic's input).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from ticketloop_shared import tracing

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra=` fields as JSON."""

    def __init__(self, service: str, replica: str | None = None) -> None:
        super().__init__()
        self.service = service
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON; extras are copied verbatim so logs stay queryable."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.replica is not None:
            entry["replica"] = self.replica
        if tracing.active():
            ctx = trace.get_current_span().get_span_context()
            if ctx.is_valid:
                entry["trace_id"] = f"{ctx.trace_id:032x}"
                entry["span_id"] = f"{ctx.span_id:016x}"
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:  # already rendered (and redacted) by a filter
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# What database and validation errors echo of the data they were given.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),  # SQLAlchemy's statement parameters
    (re.compile(r"(DETAIL:\s*)[^\n]*"), r"\1redacted"),  # PostgreSQL: key values, "Failing row contains (...)"
    (re.compile(r"(invalid input for query argument \$\d+:)[^\n]*"), r"\1 redacted"),  # asyncpg argument errors
    (re.compile(r"input_value=[^\n]*?(, input_type=)"), r"input_value=redacted\1"),  # pydantic errors
)


def redact(text: str) -> str:
    """`text` without the statement parameters and row values that database errors carry."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Strip customer data from a record's message, string extras and exception text."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; the formatter will report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in record.__dict__.items():
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


def _raising_site(exc: BaseException | None, record: logging.LogRecord) -> str:
    """`file:line` of the frame that raised `exc` (the innermost of its traceback); the logging
    call's own when the exception was never raised."""
    tb = exc.__traceback__ if exc is not None else None
    if tb is None:
        return f"{record.pathname}:{record.lineno}"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


class RateLimit(logging.Filter):
    """Fold repeats of a warning-or-worse record: within `interval` seconds of letting one of a
    kind through, the next ones of that kind are held back and counted.

    A record with an exception is of the kind (exception type, `file:line` where it was raised), so
    two different failures behind the same message ("unhandled error") are both logged with their
    tracebacks; one without is of the kind (logger, message template, level). The first of a kind
    always passes. How many were folded is said as `folded` on the next one of that kind let through,
    or, if none comes, on a `repeats folded` line at the first record after the interval ends
    (`report` emits it: the handler's `handle`). Info lines always pass.
    """

    def __init__(
        self,
        interval: float = 10.0,
        *,
        level: int = logging.WARNING,
        max_kinds: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[logging.LogRecord], object] | None = None,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.max_kinds = max_kinds
        self.clock = clock
        self.report = report
        self._kinds: dict[tuple[str, ...], list[float]] = {}  # kind -> [last let through at, folded]
        self._pending: dict[tuple[str, ...], logging.LogRecord] = {}  # kinds with a count to say: a sample
        self._lock = threading.Lock()

    @staticmethod
    def kind(record: logging.LogRecord) -> tuple[str, ...]:
        """What makes two records repeats of each other."""
        if record.exc_info and record.exc_info[0] is not None:
            exc_type = record.exc_info[0]
            return ("exc", f"{exc_type.__module__}.{exc_type.__qualname__}", _raising_site(record.exc_info[1], record))
        return ("msg", record.name, str(record.msg), record.levelname)

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat inside the interval; otherwise pass, with `folded` if any were."""
        if getattr(record, "_folded_report", False):
            return True
        now = self.clock()
        kind = self.kind(record) if record.levelno >= self.level else None
        if self._pending and self.report is not None:
            for summary in self._due_reports(now, but=kind):  # this record's own count goes on it
                self.report(summary)
        if kind is None:
            return True
        with self._lock:
            state = self._kinds.get(kind)
            if state is not None and now - state[0] < self.interval:
                state[1] += 1
                self._pending.setdefault(kind, record)
                return False
            if state is None and len(self._kinds) >= self.max_kinds:
                self._forget_quiet_kinds(now)
            self._kinds[kind] = [now, 0]
            self._pending.pop(kind, None)
        if state is not None and state[1]:
            record.folded = int(state[1])
        return True

    def _due_reports(self, now: float, *, but: tuple[str, ...] | None) -> list[logging.LogRecord]:
        """A `repeats folded` record for each kind (`but` one) whose interval ended with a count not
        yet said."""
        summaries: list[logging.LogRecord] = []
        with self._lock:
            for kind, sample in list(self._pending.items()):
                if kind == but:
                    continue
                state = self._kinds.get(kind)
                if state is not None and now - state[0] < self.interval:
                    continue
                del self._pending[kind]
                if state is None or not state[1]:
                    continue
                summary = logging.makeLogRecord(
                    {"name": sample.name, "levelno": sample.levelno, "levelname": sample.levelname}
                )
                summary.msg = "repeats folded: %s"
                summary.args = (sample.msg if sample.exc_info is None else kind[1],)
                summary.folded = int(state[1])
                summary.kind = ":".join(kind[1:])
                summary._folded_report = True
                state[1] = 0
                summaries.append(summary)
        return summaries

    def _forget_quiet_kinds(self, now: float) -> None:
        """Bound memory: drop kinds outside their interval, or all of them if every one is recent."""
        quiet = [kind for kind, (at, _) in self._kinds.items() if now - at >= self.interval]
        for kind in quiet or list(self._kinds):
            del self._kinds[kind]
            self._pending.pop(kind, None)


def _formatter(service: str, replica: str | None, json_lines: bool) -> logging.Formatter:
    if json_lines:
        return JsonFormatter(service, replica)
    name = service if replica is None or replica == service else f"{service}[{replica}]"
    return logging.Formatter(f"%(asctime)s {name} %(levelname)s %(name)s %(message)s")


def log_handler(service: str, *, replica: str | None = None, json_lines: bool = True) -> logging.Handler:
    """The stdout handler every process uses: formatted, rate-limited, redacted."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_formatter(service, replica, json_lines))
    handler.addFilter(RateLimit(report=handler.handle))  # first: a dropped record costs no redaction
    handler.addFilter(Redact())
    return handler


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def uvicorn_log_config(
    service: str, *, replica: str | None = None, level: str = "INFO", json_lines: bool = True
) -> dict[str, Any]:
    """`log_config` for uvicorn: its loggers propagate to the root handler, so its lines are JSON too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stdout": {"()": log_handler, "service": service, "replica": replica, "json_lines": json_lines}},
        "loggers": {name: {"handlers": [], "propagate": True} for name in _UVICORN_LOGGERS},
        "root": {"handlers": ["stdout"], "level": level.upper()},
    }


def configure_logging(
    service: str, *, replica: str | None = None, level: str = "INFO", json_lines: bool = True
) -> None:
    """Install the handler on the root logger; idempotent, called by each service at start."""
    root = logging.getLogger()
    root.handlers[:] = [log_handler(service, replica=replica, json_lines=json_lines)]
    for name in _UVICORN_LOGGERS:  # whatever uvicorn was configured with, its lines go the same way
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about every group rebalance step.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
