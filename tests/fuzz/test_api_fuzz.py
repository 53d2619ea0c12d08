"""The fuzz tier: each service runs for real and answers requests generated from its own OpenAPI
document, valid and invalid alike. None may get a 5xx, and every answer must be one the document
promises: a documented status, with a body of the documented schema and content type.

`TICKETLOOP_FUZZ_CASES` sets the generated requests per service (100 by default; `make fuzz` runs
10,000). Progress and the per-service counts (cases, 5xx, response-schema violations, other
failures) go to the terminal as it runs; a failure lists each distinct problem with a curl command
that reproduces it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import DEV_CHANNEL_KEY, admin_headers, serve
from ticketloop_embedded.services import SERVICES
from ticketloop_shared.settings import PlatformSettings

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

CASES = int(os.environ.get("TICKETLOOP_FUZZ_CASES", "100"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
# Valid credentials on every request, so generated requests get past authentication to the handlers.
CREDENTIALS = {"X-Api-Key": DEV_CHANNEL_KEY, **admin_headers()}


PROGRESS_EVERY = max(100, CASES // 20)


def say(line: str) -> None:
    """Progress (printed while the test's capture is off): a long run shows it is alive and what
    it has found so far."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def fuzz(name: str, base_url: str, cases: int) -> tuple[Counter[str], list[str]]:
    """Send `cases` generated requests (half valid, half invalid); return the counts (`cases`, `5xx`,
    `schema violations`, `other failures`) and the distinct problems found."""
    # Readiness answers 503 by design whenever a consumer rebalances; it takes no input to fuzz anyway.
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").exclude(path="/health/ready")
    strategy = st.one_of(
        schema.as_strategy(schemathesis.GenerationMode.POSITIVE),
        schema.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )
    problems: dict[str, str] = {}
    counts: Counter[str] = Counter()
    session = requests.Session()

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base_url, session=session, headers=CREDENTIALS, timeout=30)
        counts["cases"] += 1
        if response.status_code >= 500:
            counts["5xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=CREDENTIALS)
        except (Failure, FailureGroup) as exc:  # every distinct failure is collected, not just the first
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            titles = {failure.title for failure in failures}
            counts["schema violations" if any("schema" in t.lower() for t in titles) else "other failures"] += 1
            kind = f"{case.operation.label} -> {response.status_code}: {', '.join(sorted(titles))}"
            problems.setdefault(kind, str(exc))
        if counts["cases"] % PROGRESS_EVERY == 0:
            say(f"fuzz {name}: {summary(counts)}")

    run()
    return counts, [f"{kind}\n{detail}" for kind, detail in problems.items()]


def summary(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[key]} {key}" for key in ("cases", "5xx", "schema violations", "other failures"))


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
async def test_generated_requests_get_no_5xx_and_only_documented_answers(
    name: str,
    platform: PlatformSettings,
    new_database: Callable[[str], Awaitable[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app_module = importlib.import_module(f"ticketloop_{name}.app")
    settings_module = importlib.import_module(f"ticketloop_{name}.settings")
    settings_cls: Any = getattr(settings_module, f"{name.capitalize()}Settings")
    # Limits off: thousands of cases share one token and one address (429s are tested on their own).
    unlimited = platform.model_copy(
        update={"rate_channel_per_minute": 0, "rate_staff_per_minute": 0, "rate_failed_credentials_per_minute": 0}
    )
    app = app_module.create_app(settings_cls(database_url=await new_database(name), platform=unlimited))
    async with serve(app) as service:
        started = time.monotonic()
        with capsys.disabled():
            say(f"fuzz {name}: {CASES} cases against {service.url}")
            counts, problems = await asyncio.to_thread(fuzz, name, service.url, CASES)
            elapsed = time.monotonic() - started
            say(f"fuzz {name} done in {elapsed:.0f}s: {summary(counts)}")
    assert not problems, f"{len(problems)} problem(s) in {CASES} cases ({elapsed:.1f}s):\n\n" + "\n\n".join(problems)
