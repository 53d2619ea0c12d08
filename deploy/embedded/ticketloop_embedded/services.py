"""The five services, and the staff workspace in front of them, as child processes of the
supervisor (or of a test)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx


@dataclass(frozen=True)
class ServiceDef:
    """How to start one service."""

    name: str
    default_port: int
    # Whether it keeps a database (the workspace keeps none: it calls the others' APIs).
    has_database: bool = True

    @property
    def module(self) -> str:
        """The package run with `python -m`."""
        return f"ticketloop_{self.name}"

    @property
    def env_prefix(self) -> str:
        """Prefix of this service's own settings."""
        return f"TICKETLOOP_{self.name.upper()}_"

    @property
    def database(self) -> str:
        """Name of its database."""
        return f"ticketloop_{self.name}"


SERVICES = (
    ServiceDef("intake", 8001),
    ServiceDef("routing", 8002),
    ServiceDef("sla", 8003),
    ServiceDef("feedback", 8004),
    ServiceDef("retrospective", 8005),
)
# The staff's web application: no database, no events consumed; it calls the services above.
WORKSPACE = ServiceDef("workspace", 8006, has_database=False)
# Everything `make run` starts.
PROCESSES = (*SERVICES, WORKSPACE)


class ServiceProcess:
    """One running service."""

    def __init__(self, sdef: ServiceDef, *, port: int, env: dict[str, str], log_path: Path | None = None) -> None:
        self.sdef = sdef
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn `python -m ticketloop_<name>`."""
        out: IO[bytes] | None = None
        if self._log is not None:
            self._log.close()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log
        env = {**os.environ, **self.env, f"{self.sdef.env_prefix}HTTP_PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.sdef.module],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor, which stops us in order
        )

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until `/health/ready` answers 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.sdef.name} exited with status {self.process and self.process.poll()}")
            try:
                r = httpx.get(f"{self.url}/health/ready", timeout=2)
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.sdef.name} not ready after {timeout:.0f}s: {last}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (graceful: in-flight requests finish, consumers leave their group), then kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: a crash, for tests of recovery."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
