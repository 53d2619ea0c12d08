"""`ticketloop run` as a user runs it: it starts everything, prints URLs and credentials,
restarts a service or a broker that dies, and on Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import agent_headers, channel_headers, create_ticket_body
from ticketloop_embedded.ports import free_port, port_open
from ticketloop_embedded.services import PROCESSES, SERVICES, WORKSPACE

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-supervisor")


def wait_for_line(log: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text()
        if text in content:
            return content
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not printed in {timeout}s; output:\n{log.read_text()[-3000:]}")


def test_run_supervises_and_stops_everything_on_ctrl_c() -> None:
    root = Path(tempfile.mkdtemp(prefix="ticketloop-run-"))
    # The five services and the staff workspace, each on a port of the test's choosing.
    ports = {s.name: free_port() for s in PROCESSES}
    # The email gateway too: its webhook receiver, its SMTP server and its development relay.
    mail_ports = {"HTTP": free_port(), "SMTP": free_port(), "RELAY": free_port()}
    pg_port, broker_port = free_port(), free_port()
    env = {
        **os.environ,
        "TICKETLOOP_EMBEDDED_DATA_DIR": str(root / "data"),
        "TICKETLOOP_EMBEDDED_PG_PORT": str(pg_port),
        "TICKETLOOP_EMBEDDED_BROKER_PORT": str(broker_port),
        "TICKETLOOP_KAFKA_SESSION_TIMEOUT_MS": "3000",
        **{f"{s.env_prefix}HTTP_PORT": str(ports[s.name]) for s in PROCESSES},
        **{f"TICKETLOOP_EMAILGW_{what}_PORT": str(port) for what, port in mail_ports.items()},
    }
    log = root / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticketloop_embedded", "run"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        printed = wait_for_line(log, "Stop: Ctrl-C", timeout=120)
        for s in SERVICES:
            assert f"http://127.0.0.1:{ports[s.name]}" in printed
        workspace = f"http://127.0.0.1:{ports[WORKSPACE.name]}"
        assert f"Staff workspace: {workspace}/workspace" in printed
        assert f"mail to SMTP 127.0.0.1:{mail_ports['SMTP']} becomes a ticket" in printed
        assert httpx.get(f"http://127.0.0.1:{mail_ports['HTTP']}/health/live", timeout=10).status_code == 200
        assert "X-Api-Key: tl-dev-channel-key" in printed
        # no token in the run log: the command that mints one, run here as a person would
        assert "eyJ" not in printed and "Bearer" not in printed
        command = re.search(r"agent token\s+(\S*ticketloop token .+)$", printed, re.M)
        assert command is not None
        program, *args = shlex.split(command[1])
        assert Path(program).name == "ticketloop" and args[0] == "token"
        minted = subprocess.run(
            [sys.executable, "-m", "ticketloop_embedded", *args], env=env, capture_output=True, text=True, check=True
        )
        agent_token = minted.stdout.strip()
        assert agent_token.startswith("eyJ")  # a JWT
        staff = {"Authorization": f"Bearer {agent_token}"}

        # the signing secret was made for this install, readable by its owner only
        secret_file = root / "data" / "auth-secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert len(secret_file.read_text().strip()) >= 32
        intake = f"http://127.0.0.1:{ports['intake']}"
        forged = agent_headers(secret="ticketloop-development-secret-do-not-use-in-production")
        assert httpx.get(f"{intake}/v1/tickets", headers=forged, timeout=10).status_code == 401
        assert httpx.get(f"{intake}/v1/tickets", headers=staff, timeout=10).status_code == 200
        # the workspace runs with them and reaches them on the test's ports: the printed agent
        # token signs in (checked with the services) and My work lists intake's tickets
        assert httpx.get(f"{workspace}/health/ready", timeout=10).status_code == 200
        with httpx.Client(base_url=workspace, timeout=10, follow_redirects=True) as browser:
            my_work = browser.post("/workspace/login", data={"token": agent_token, "next": "/workspace"})
            assert my_work.status_code == 200, my_work.text[-2000:]
            assert my_work.url.path == "/workspace" and "Ravi Iyer" in my_work.text
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any(WORKSPACE.module in " ".join(c.cmdline()) for c in children)

        # a service that dies is restarted
        routing = next(c for c in children if "ticketloop_routing" in " ".join(c.cmdline()))
        routing.kill()
        wait_for_line(log, "routing exited", timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{ports['routing']}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("routing was not restarted")

        # a dead broker is noticed, reported and replaced
        broker = next(c for c in psutil.Process(proc.pid).children(recursive=True) if "tansu" in c.name())
        broker.kill()
        wait_for_line(log, "broker died", timeout=10)
        deadline = time.monotonic() + 30
        while not port_open(broker_port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert port_open(broker_port), "broker was not restarted"
        wait_for_line(log, "new cluster id", timeout=30)

        # ... and the services carry on with the new broker: a new ticket still gets routed
        r = httpx.post(f"{intake}/v1/tickets", json=create_ticket_body(), headers=channel_headers(), timeout=10)
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            # The printed agent works in finance, which owns billing: once routed, it may read it
            # (before that, 403 ticket_not_routed).
            ticket = httpx.get(f"{intake}/v1/tickets/{r.json()['id']}", headers=staff, timeout=10).json()
            if ticket.get("assignee"):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("a ticket posted after the broker restart was never assigned")

        # Ctrl-C stops services, broker and PostgreSQL, and the command exits 0
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped" in log.read_text().splitlines()[-1]
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
        assert not port_open(broker_port) and not port_open(pg_port)
        assert not any(port_open(p) for p in [*ports.values(), *mail_ports.values()])
        assert not (root / "data" / "pg" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:  # a failed assertion: still stop everything it started, in order
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
