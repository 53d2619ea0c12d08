"""Rate limits per channel client, per staff token, and per address for failed credentials.

A sliding-window counter per key (the current fixed minute plus the previous one, weighted by
how much of it the sliding window still covers), held in each process's memory: a dict lookup
and some arithmetic on the ticket hot path. N replicas each allow the limit, so the effective
ceiling is N times it. Each limit is a setting; 0 turns it off.

(The `limits` library was used first; its in-memory storage starts a timer thread every 10 ms
while requests arrive, which cost intake about a tenth of its CPU under load.)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import Request, Response

from ticketloop_shared.errors import TooManyRequests
from ticketloop_shared.settings import PlatformSettings

WINDOW_SECONDS = 60
_PRUNE_EVERY = 10_000


@dataclass
class _Count:
    window: int
    current: int
    previous: int


@dataclass(frozen=True)
class Verdict:
    """One decision: allowed or not, what is left, and in how many seconds to retry."""

    allowed: bool
    remaining: int
    reset_seconds: int


class SlidingWindow:
    """At most `limit` events per key in any `window` seconds (approximately: the previous
    window's events are assumed evenly spread)."""

    def __init__(self, limit: int, window: int = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._counts: dict[str, _Count] = {}
        self._since_prune = 0

    def _weighted(self, key: str, now: float) -> tuple[_Count, float, float]:
        index, elapsed = int(now // self.window), now % self.window
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = _Count(index, 0, 0)
        elif count.window != index:
            count.previous = count.current if count.window == index - 1 else 0
            count.current, count.window = 0, index
        weighted = count.previous * (self.window - elapsed) / self.window + count.current
        return count, weighted, elapsed

    def _retry_after(self, count: _Count, elapsed: float) -> int:
        if count.current + 1 > self.limit or count.previous == 0:
            wait = self.window - elapsed  # only the next window frees room
        else:  # the previous window's share shrinks until one more fits
            wait = self.window - elapsed - (self.limit - count.current - 1) * self.window / count.previous
        return max(1, min(self.window, math.ceil(wait)))

    def check(self, key: str, now: float | None = None) -> Verdict:
        """Whether one more event of `key` would be allowed (nothing is counted)."""
        count, weighted, elapsed = self._weighted(key, time.time() if now is None else now)
        if weighted + 1 > self.limit:
            return Verdict(False, 0, self._retry_after(count, elapsed))
        return Verdict(True, int(self.limit - weighted), math.ceil(self.window - elapsed))

    def hit(self, key: str, now: float | None = None) -> Verdict:
        """Count one event of `key` if it is allowed."""
        now = time.time() if now is None else now
        verdict = self.check(key, now)
        if verdict.allowed:
            self._counts[key].current += 1
            verdict = Verdict(True, max(verdict.remaining - 1, 0), verdict.reset_seconds)
        self._prune(now)
        return verdict

    def _prune(self, now: float) -> None:
        """Forget keys idle for two windows, now and then, so memory stays bounded."""
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        index = int(now // self.window)
        self._counts = {k: c for k, c in self._counts.items() if c.window >= index - 1}


class RateLimits:
    """The limits one service process enforces."""

    def __init__(self, platform: PlatformSettings) -> None:
        per_minute = {
            "channel": platform.rate_channel_per_minute,
            "staff": platform.rate_staff_per_minute,
            "failed_credentials": platform.rate_failed_credentials_per_minute,
        }
        self._windows = {name: SlidingWindow(limit) for name, limit in per_minute.items() if limit > 0}

    def refuse_blocked_address(self, request: Request) -> None:
        """429 for an address that sent too many bad credentials lately, before checking more."""
        window = self._windows.get("failed_credentials")
        if window is not None:
            verdict = window.check(_address(request))
            if not verdict.allowed:
                raise _exceeded("failed_credentials", window, verdict, "too many failed credentials")

    def failed_credentials(self, request: Request) -> None:
        """Count one refused credential from this address."""
        window = self._windows.get("failed_credentials")
        if window is not None:
            window.hit(_address(request))

    def spend(self, policy: str, key: str, response: Response | None = None) -> None:
        """Count one request of `key` under `policy`: 429 past the limit, else the remaining
        allowance in the `RateLimit` headers of `response`."""
        window = self._windows.get(policy)
        if window is None:
            return
        verdict = window.hit(key)
        if not verdict.allowed:
            raise _exceeded(policy, window, verdict, f"rate limit of {window.limit} requests per minute exceeded")
        if response is not None:
            response.headers["RateLimit-Policy"] = f'"{policy}";q={window.limit};w={window.window}'
            response.headers["RateLimit"] = f'"{policy}";r={verdict.remaining};t={verdict.reset_seconds}'
            response.headers["RateLimit-Limit"] = str(window.limit)
            response.headers["RateLimit-Remaining"] = str(verdict.remaining)
            response.headers["RateLimit-Reset"] = str(verdict.reset_seconds)


def _exceeded(policy: str, window: SlidingWindow, verdict: Verdict, message: str) -> TooManyRequests:
    return TooManyRequests(
        f"{message}; retry later",
        policy=policy,
        retry_after=verdict.reset_seconds,
        limit=window.limit,
        window_seconds=window.window,
    )


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def rate_limits(request: Request) -> RateLimits | None:
    """The app's limits (none in an app built without them, e.g. the bench baseline)."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits
