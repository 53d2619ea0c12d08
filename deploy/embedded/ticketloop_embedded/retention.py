"""`ticketloop retention [--dry-run]`: apply (or only report) every service's retention schedule
against the embedded stack's databases, and print per service and class what is past its limit,
the oldest such record, and what was erased or deleted.

Each service runs its own `python -m ticketloop_<service> retention --json` with the
environment `ticketloop run` gives it, so the schedule is the services' own (their settings,
their classes); PostgreSQL must be running (`ticketloop run` in another terminal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Stack, StackConfig
from ticketloop_shared.retention import ClassReport, format_rows


def retention(config: StackConfig, *, dry_run: bool, say: Callable[[str], None]) -> int:
    """Run each service's retention command; print the joined report. 1 when a service failed."""
    stack = Stack(config)
    rows: list[ClassReport] = []
    status = 0
    for sdef in SERVICES:
        env = {**os.environ, **stack.platform_env, **stack.service_env(sdef)}
        command = [sys.executable, "-m", sdef.module, "retention", "--json", *(["--dry-run"] if dry_run else [])]
        say(f"{sdef.name}: {'counting' if dry_run else 'applying the schedule'}")
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            status = 1
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            say(f"{sdef.name}: failed ({last}); is the stack running (`ticketloop run`)?")
            continue
        report = json.loads(done.stdout.strip().splitlines()[-1])
        rows.extend(ClassReport.model_validate(c) for c in report["classes"])
    print("\n".join(format_rows(rows)))  # noqa: T201 - the report, on stdout
    if dry_run:
        say("dry run: nothing was changed ('due' is what a run would erase or delete)")
    return status
