"""Change notices between the processes of one service, through PostgreSQL's NOTIFY/LISTEN.

Each process keeps caches of rare administrative data in memory (revoked tokens; intake's
channel keys and its customers' erasures) so that no request pays a round trip for them. A
process that changes such data sends a notice in the same transaction (`notify`: PostgreSQL
delivers it at commit, and never for a rollback); every process of the service holds one
listening connection (`Notices`) that wakes the job re-reading that cache. So a change holds
everywhere within milliseconds instead of a per-second re-read in every process at idle.

Notices are not a hot-path tool: PostgreSQL serialises committing transactions that NOTIFY
behind one global lock (see `messaging.outbox`). They are for rare writes only.

A notice can be lost (the listening connection was down when it was sent): after every
(re)connect every subscribed job is woken at once, and each job still re-reads on its own at a
slow safety-net interval (`PlatformSettings.notice_safety_net_seconds`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ticketloop_shared.cancellation import stop_if_cancelled, wait_for_event
from ticketloop_shared.state import ProcessState, Slot

log = logging.getLogger(__name__)

# The listening connections' name in `pg_stat_activity`.
APPLICATION_NAME = "ticketloop-notices"


async def notify(db: AsyncSession | AsyncConnection, channel: str) -> None:
    """Tell every process listening on this database that `channel`'s data changed, once (and
    only if) the current transaction commits."""
    await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Notices:
    """One process's listening connection: a notice on a channel sets the wake event (a slot of
    the process state) of the jobs subscribed to it; a reconnect sets all of them."""

    def __init__(self, dsn: str, state: ProcessState, *, check_seconds: float = 30.0) -> None:
        self.dsn = dsn
        self.state = state
        self.check_seconds = check_seconds
        self._wakes: dict[str, list[Slot[asyncio.Event]]] = {}
        self.connected = asyncio.Event()
        self.received = 0

    def subscribe(self, channel: str, wake: Slot[asyncio.Event]) -> None:
        """Set `wake` on every notice on `channel` (call before `run`)."""
        slots = self._wakes.setdefault(channel, [])
        if wake not in slots:
            slots.append(wake)

    @property
    def channels(self) -> list[str]:
        """The channels subscribed to."""
        return list(self._wakes)

    def _wake(self, channel: str) -> None:
        for slot in self._wakes.get(channel, ()):
            self.state[slot].set()

    def _on_notice(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self.received += 1
        self._wake(channel)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff; nothing to do without subscribers."""
        if not self._wakes:
            return
        delay = 0.5
        while True:
            try:
                await self._listen()
                delay = 0.5
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("change notices: listening connection lost; reconnecting", extra={"error": repr(exc)})
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        """One listening connection, until it is lost (noticed at once when the server closes it,
        else by the check every `check_seconds`)."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        try:
            for channel in self._wakes:
                await conn.add_listener(channel, self._on_notice)
            # Whatever changed while nobody listened is re-read now.
            for channel in self._wakes:
                self._wake(channel)
            self.connected.set()
            while not lost.is_set():
                if not await wait_for_event(lost, self.check_seconds):
                    await conn.execute("SELECT 1", timeout=10)
            raise ConnectionError("the listening connection was closed")
        finally:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()
