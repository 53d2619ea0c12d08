"""A small HTTP/1.1 keep-alive load client on raw asyncio streams (httpx tops out far below
what the bench must push on two cores).

Two modes: closed loop (N requests over C connections, each sending the next as soon as the
last answered) and open loop (R requests a second for T seconds on a fixed timetable: latency
is measured from when a request was due, so queueing in the client counts, as it would for a
real channel).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one run saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    bodies: list[tuple[float, bytes]] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        """2xx answers per second over the run."""
        return self.ok / max(self.finished - self.started, 1e-9)

    def percentile(self, p: float) -> float:
        """Latency at percentile `p` (0–100), in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def post_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One pre-encoded keep-alive POST."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)


class _Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            return await _exchange(self.reader, self.writer, request)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _record(result: Result, status: int, body: bytes, due: float, keep_bodies: bool) -> None:
    now = time.perf_counter()
    result.latencies.append(now - due)
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if keep_bodies and 200 <= status < 300:
        result.bodies.append((due, body))


async def closed_loop(
    port: int, make: Callable[[int], bytes], *, total: int, concurrency: int, keep_bodies: bool = False
) -> Result:
    """`total` requests over `concurrency` keep-alive connections, back to back."""
    result = Result()
    counter = iter(range(total))

    async def worker() -> None:
        conn = _Connection(port)
        for i in counter:
            due = time.perf_counter()
            try:
                status, body = await conn.send(make(i))
            except (OSError, ValueError, asyncio.IncompleteReadError):
                result.errors += 1
                continue
            _record(result, status, body, due, keep_bodies)
        conn.close()

    result.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.finished = time.perf_counter()
    return result


async def open_loop(
    port: int,
    make: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
    keep_bodies: bool = False,
    follow: Callable[[int, bytes], bytes | None] | None = None,
    followed: Result | None = None,
) -> Result:
    """`rate` requests a second for `seconds`, each sent when due on a free connection.

    `follow(i, body)` turns a 2xx answer into a second request sent at once on the same
    connection (an agent's reply to the ticket just posted, say), recorded in `followed` with
    its latency from when it was sent."""
    result = Result()
    free: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(_Connection(port))

    async def one(i: int, due: float) -> None:
        conn = await free.get()
        try:
            status, body = await conn.send(make(i))
            _record(result, status, body, due, keep_bodies)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            result.errors += 1
            free.put_nowait(conn)
            return
        try:
            then = follow(i, body) if follow is not None and 200 <= status < 300 else None
            if then is not None:
                into = followed if followed is not None else Result()
                sent = time.perf_counter()
                try:
                    status, body = await conn.send(then)
                    _record(into, status, body, sent, keep_bodies)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    into.errors += 1
        finally:
            free.put_nowait(conn)

    tasks = []
    result.started = start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    result.finished = time.perf_counter()
    while not free.empty():
        free.get_nowait().close()
    return result
