"""Rate limits per channel client, per staff token, and for failed credentials per client
address and per presented key.

A sliding-window counter per key (the current fixed minute plus the previous one, weighted by
how much of it the sliding window still covers), held in each process's memory: a dict lookup
and some arithmetic on the ticket hot path. Each limit is a setting; 0 turns it off.

Failed credentials are counted twice, against the client's address (as `ticketloop_shared.proxies`
resolves it: a forwarded header only from a trusted proxy) and against what was presented (a
token's claimed subject, a key), and past either limit the refusal is a 429 instead of a 401/404.
Only failures are limited: a valid credential is always checked and always accepted, so neither
a noisy neighbour behind the same proxy nor someone presenting a victim's subject can lock its
owner out. (The credentials themselves are 256-bit keys and HMAC-signed tokens: guessing is not
what this stops; it bounds scanning and the replay of leaked, revoked or expired credentials,
and makes them visible as 429s.) Keys are hashed, so memory per key stays small whatever is sent.

The counters are per replica, on purpose: N replicas each allow the limit, so the effective
ceiling is N times it. Sharing them through PostgreSQL would put a write on every refused
credential (the very traffic the limit is for) and the workspace has no database; a limit that
is a few times looser behind a load balancer still stops what it is for.

(The `limits` library was used first; its in-memory storage starts a timer thread every 10 ms
while requests arrive, which cost intake about a tenth of its CPU under load.)
"""

from __future__ import annotations

import hashlib
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

    def failed_credentials(self, request: Request, presented: str) -> None:
        """Count one refused credential against the client's address and against `presented`
        (see `presented_key`); raise 429 instead when either had too many lately. Called only
        once a credential has failed, so a valid one is never refused here."""
        window = self._windows.get("failed_credentials")
        if window is None:
            return
        keys = (f"address:{client_address(request)}", presented)
        now = time.time()
        for key in keys:
            verdict = window.check(key, now)
            if not verdict.allowed:
                raise _exceeded("failed_credentials", window, verdict, "too many failed credentials")
        for key in keys:
            window.hit(key, now)

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


def client_address(request: Request) -> str:
    """The client's address: the peer, or whom a trusted proxy names (`proxies.ClientAddress`)."""
    return request.client.host if request.client is not None else "unknown"


def presented_key(kind: str, value: str) -> str:
    """The failed-credentials counter of what was presented (`kind`: `subject`, `api_key`,
    `link`...): a short hash, so a long or hostile value costs no more memory than any other."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return f"{kind}:{digest}"


def rate_limits(request: Request) -> RateLimits | None:
    """The app's limits (none in an app built without them, e.g. the bench baseline)."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits
