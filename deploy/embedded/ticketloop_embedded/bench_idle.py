"""`ticketloop bench-idle` (`make bench-idle`): what the whole embedded stack costs doing nothing.

It starts `ticketloop run` (the five services, the workspace, the email gateway, the broker and
PostgreSQL, under its supervisor) on free ports in a temporary folder, waits until it says it is
ready and a settling time more, then sums the user and system CPU of every process of the stack
over a window (PostgreSQL's postmaster is started detached: it is found by its data folder) and
prints the share of one core, in all and per process. A team that gets a ticket a minute pays
this all day.

Then it posts one ticket and times it until its read-back shows an assignee: what an idle stack
saves (consumers' fetches held long while nothing comes) the first ticket after a quiet spell
pays in latency, so both figures are printed together.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from ticketloop_embedded.bench import CHANNEL_KEY, ticket_body
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import PROCESSES, SERVICES

READY = b"Stop: Ctrl-C"


async def first_ticket_after_quiet(intake_url: str) -> dict[str, float]:
    """Seconds until one ticket is accepted and until its read-back shows an assignee."""
    headers = {"X-Api-Key": CHANNEL_KEY, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=intake_url, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        r = await client.post("/v1/tickets", content=ticket_body(0))  # the simple body: web, billing
        r.raise_for_status()
        accepted = time.perf_counter() - started
        ticket_id = r.json()["id"]
        while time.perf_counter() - started < 60:
            r = await client.get(f"/v1/channel/tickets/{ticket_id}")
            if r.status_code == 200 and r.json().get("assignee"):
                return {"accepted_s": round(accepted, 3), "assignee_shown_s": round(time.perf_counter() - started, 3)}
            await asyncio.sleep(0.02)
    return {"accepted_s": round(accepted, 3), "assignee_shown_s": float("nan")}


def _stack_env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TICKETLOOP_EMBEDDED_DATA_DIR": str(root / "data"),
        "TICKETLOOP_EMBEDDED_PG_PORT": str(free_port()),
        "TICKETLOOP_EMBEDDED_BROKER_PORT": str(free_port()),
        **{f"{p.env_prefix}HTTP_PORT": str(free_port()) for p in PROCESSES},
        **{f"TICKETLOOP_EMAILGW_{what}_PORT": str(free_port()) for what in ("HTTP", "SMTP", "RELAY")},
    }


def _processes(supervisor: psutil.Process, root: Path) -> list[psutil.Process]:
    """The supervisor, its children, and the detached PostgreSQL tree of this stack's folder."""
    found = {p.pid: p for p in [supervisor, *supervisor.children(recursive=True)]}
    for p in psutil.process_iter(["cmdline"]):
        if str(root) in " ".join(p.info["cmdline"] or []) and p.pid not in found:
            for q in [p, *p.children(recursive=True)]:
                found[q.pid] = q
    return list(found.values())


def _name(p: psutil.Process) -> str:
    if "postgres" in p.name():
        return "postgres"
    if "tansu" in p.name():
        return "broker"
    args = p.cmdline()
    return str(args[args.index("-m") + 1]) if "-m" in args[:-1] else str(p.name())


def _cpu(processes: list[psutil.Process]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in processes:
        try:
            t = p.cpu_times()
            name = _name(p)
        except psutil.NoSuchProcess:
            continue
        out[name] = out.get(name, 0.0) + t.user + t.system
    return out


def bench_idle(*, settle: float, window: float, json_path: Path, say: Callable[[str], None]) -> int:
    """Measure and print; write the figures as JSON. Exit status 1 if the stack never got ready."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-idle-"))
    log_path = root / "run.log"
    env = _stack_env(root)
    intake = next(s for s in SERVICES if s.name == "intake")
    intake_url = f"http://127.0.0.1:{env[f'{intake.env_prefix}HTTP_PORT']}"
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "ticketloop_embedded", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        say(f"bench-idle: starting the whole stack (log: {log_path})")
        deadline = time.monotonic() + 300
        while READY not in log_path.read_bytes():
            if stack.poll() is not None or time.monotonic() > deadline:
                say("the stack did not get ready; see its log")
                return 1
            time.sleep(0.5)
        say(f"bench-idle: ready; settling {settle:.0f} s, then measuring {window:.0f} s")
        time.sleep(settle)
        processes = _processes(psutil.Process(stack.pid), root)
        before, started = _cpu(processes), time.monotonic()
        time.sleep(window)
        after, elapsed = _cpu(processes), time.monotonic() - started
        shares = {name: round(100 * (after[name] - before.get(name, 0.0)) / elapsed, 2) for name in after}
        total = round(sum(shares.values()), 1)
        say(f"idle: {total} % of one core over {elapsed:.0f} s, {len(processes)} processes")
        for name, share in sorted(shares.items(), key=lambda item: -item[1]):
            say(f"  {share:6.2f} %  {name}")
        first = asyncio.run(first_ticket_after_quiet(intake_url))
        say(
            f"first ticket after {settle + elapsed:.0f} s of quiet: accepted in {1000 * first['accepted_s']:.0f} ms, "
            f"its assignee shown after {first['assignee_shown_s']:.2f} s"
        )
        figures = {
            "window_s": round(elapsed),
            "total_percent_of_one_core": total,
            "per_process": shares,
            "first_ticket_after_quiet": first,
        }
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
        say(f"figures written to {json_path}")
        return 0
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=90)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
