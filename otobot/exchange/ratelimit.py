"""A per-account token bucket: requests wait for a token; a 429's Retry-After blocks the whole account."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def refill(tokens: float, last: float, now: float, rate: float, burst: int) -> tuple[float, float]:
    """Tokens after refilling from `last` to `now` at `rate`/s, capped at `burst` (pure)."""
    return min(float(burst), tokens + max(0.0, now - last) * rate), now


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self.clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    def pause_until(self, deadline: float) -> None:
        self._blocked_until = max(self._blocked_until, deadline)

    def wait_time(self) -> float:
        """Seconds until a request may go, without taking a token."""
        now = self.clock()
        self._tokens, self._last = refill(self._tokens, self._last, now, self.rate, self.burst)
        blocked = max(0.0, self._blocked_until - now)
        need = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
        return max(blocked, need)

    async def acquire(self) -> None:
        async with self._lock:  # FIFO-ish: one waiter sleeps at a time, the rest queue behind it
            while (delay := self.wait_time()) > 0:  # noqa: ASYNC110 - a computed wait, not a poll
                await asyncio.sleep(delay)
            self._tokens -= 1
