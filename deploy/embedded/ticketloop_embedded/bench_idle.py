"""`ticketloop bench-idle` (`make bench-idle`): what the whole embedded stack costs doing nothing.

It starts `ticketloop run` (the five services, the workspace, the email gateway, the broker and
PostgreSQL, under its supervisor) on free ports in a temporary folder, waits until it says it is
ready and a settling time more, then sums the user and system CPU of every process of the stack
over a window (PostgreSQL's postmaster is started detached: it is found by its data folder) and
prints the share of one core, in all and per process. A team that gets a ticket a minute pays
this all day.
"""

from __future__ import annotations

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

import psutil

from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import PROCESSES

READY = b"Stop: Ctrl-C"


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
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "ticketloop_embedded", "run"],
            env=_stack_env(root),
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
        figures = {"window_s": round(elapsed), "total_percent_of_one_core": total, "per_process": shares}
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
