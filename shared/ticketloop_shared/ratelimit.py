"""Rate limits per channel client, per staff token, and per address for failed credentials.

Counters are sliding windows held in each process's memory (the `limits` library): cheap enough
for the ticket hot path (a few microseconds), with the catch that N replicas each allow the
limit, so the effective ceiling is N times it. Each limit is a setting; 0 turns it off.
"""

from __future__ import annotations

import math
import time

from fastapi import Request, Response
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from ticketloop_shared.errors import TooManyRequests
from ticketloop_shared.settings import PlatformSettings

WINDOW_SECONDS = 60


class RateLimits:
    """The limits one service process enforces."""

    def __init__(self, platform: PlatformSettings) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        per_minute = {
            "channel": platform.rate_channel_per_minute,
            "staff": platform.rate_staff_per_minute,
            "failed_credentials": platform.rate_failed_credentials_per_minute,
        }
        self._items: dict[str, RateLimitItem] = {
            name: RateLimitItemPerMinute(limit) for name, limit in per_minute.items() if limit > 0
        }

    def refuse_blocked_address(self, request: Request) -> None:
        """429 for an address that sent too many bad credentials lately, before checking more."""
        item = self._items.get("failed_credentials")
        if item is not None and not self._limiter.test(item, "failed_credentials", _address(request)):
            raise self._exceeded("failed_credentials", item, _address(request), "too many failed credentials")

    def failed_credentials(self, request: Request) -> None:
        """Count one refused credential from this address."""
        item = self._items.get("failed_credentials")
        if item is not None:
            self._limiter.hit(item, "failed_credentials", _address(request))

    def spend(self, policy: str, key: str, response: Response | None = None) -> None:
        """Count one request of `key` under `policy`: 429 past the limit, else the remaining
        allowance in the `RateLimit` headers of `response`."""
        item = self._items.get(policy)
        if item is None:
            return
        if not self._limiter.hit(item, policy, key):
            raise self._exceeded(policy, item, key, f"rate limit of {item.amount} requests per minute exceeded")
        if response is not None:
            stats = self._limiter.get_window_stats(item, policy, key)
            reset = _seconds_until(stats.reset_time)
            response.headers["RateLimit-Policy"] = f'"{policy}";q={item.amount};w={WINDOW_SECONDS}'
            response.headers["RateLimit"] = f'"{policy}";r={stats.remaining};t={reset}'
            response.headers["RateLimit-Limit"] = str(item.amount)
            response.headers["RateLimit-Remaining"] = str(stats.remaining)
            response.headers["RateLimit-Reset"] = str(reset)

    def _exceeded(self, policy: str, item: RateLimitItem, key: str, message: str) -> TooManyRequests:
        stats = self._limiter.get_window_stats(item, policy, key)
        return TooManyRequests(
            f"{message}; retry later",
            policy=policy,
            retry_after=_seconds_until(stats.reset_time),
            limit=item.amount,
            window_seconds=WINDOW_SECONDS,
        )


def _seconds_until(moment: float) -> int:
    return max(1, min(WINDOW_SECONDS, math.ceil(moment - time.time())))


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def rate_limits(request: Request) -> RateLimits | None:
    """The app's limits (none in an app built without them, e.g. the bench baseline)."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits
