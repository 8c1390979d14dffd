"""Pure sliding-window volatility: the largest % move between prices seen within the last N seconds."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

# Expiry is lazy (profiled: it was a third of the cost of every trade): move_pct expires before it reads, and
# old entries only ever sit at the deques' heads, so leaving them there changes no answer. This bounds memory.
_EXPIRE_ABOVE = 64


class PriceWindow:
    """Keeps (time, price) for `window_s` seconds with running min/max in amortised O(1) per price."""

    __slots__ = ("_last", "_maxq", "_minq", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        # Monotonic deques: the classic sliding-window min/max, so a busy market costs O(1) per trade.
        self._minq: deque[tuple[float, Decimal]] = deque()
        self._maxq: deque[tuple[float, Decimal]] = deque()
        self._last: Decimal | None = None  # the price of the newest entry, the tail of both deques

    def add(self, t: float, price: Decimal) -> None:
        if price == self._last:
            # Most trades repeat the last price (every bot's fill is a trade): the full path would pop each
            # deque's tail and append the same price with the new time, so only the tails' time moves.
            self._minq[-1] = self._maxq[-1] = (t, price)
            return
        self._last = price
        while self._minq and self._minq[-1][1] >= price:
            self._minq.pop()
        self._minq.append((t, price))
        while self._maxq and self._maxq[-1][1] <= price:
            self._maxq.pop()
        self._maxq.append((t, price))
        if len(self._minq) + len(self._maxq) > _EXPIRE_ABOVE:
            self._expire(t)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._minq and self._minq[0][0] < cutoff:
            self._minq.popleft()
        while self._maxq and self._maxq[0][0] < cutoff:
            self._maxq.popleft()
        if not self._minq:
            self._last = None  # both deques are empty: the next price starts afresh

    def move_pct(self, now: float) -> Decimal:
        """(max − min) / min × 100 over the window ending at `now`; 0 with fewer than one price."""
        self._expire(now)
        if not self._minq:
            return Decimal(0)
        lo, hi = self._minq[0][1], self._maxq[0][1]
        return (hi - lo) / lo * 100 if lo > 0 else Decimal(0)


def move_pct(prices: list[tuple[float, Decimal]], now: float, window_s: float) -> Decimal:
    """Reference implementation (quadratic-free but naive) for property tests of PriceWindow."""
    inside = [p for t, p in prices if t >= now - window_s]
    if not inside:
        return Decimal(0)
    lo, hi = min(inside), max(inside)
    return (hi - lo) / lo * 100 if lo > 0 else Decimal(0)
