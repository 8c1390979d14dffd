"""The trading day: points math, today's volume against the target, sizing of the last order, inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from otobot.exchange.filters import fmt
from otobot.store.records import Holding as Holding

CENT = Decimal("0.01")


def volume_points(buy_volume: Decimal, mul_point: int) -> int:
    """$2 → 1 point, +1 per doubling (alpha-api.md §6.1); the token's multiplier scales the volume."""
    counted = buy_volume * mul_point
    if counted < 2:
        return 0
    # Exact integer log2 of the floor: no float rounding at the tier boundaries (e.g. exactly $8192).
    return int(counted.to_integral_value(rounding="ROUND_FLOOR")).bit_length() - 1


def volume_for_points(points: int, mul_point: int) -> Decimal:
    """The buy volume in quote that reaches `points` on a token with `mul_point`."""
    return (Decimal(2) ** points / Decimal(mul_point)).quantize(Decimal("0.00000001"), rounding=ROUND_CEILING)


def target_volume(kind: str, value: Decimal, mul_point: int) -> Decimal:
    """Today's buy-volume goal in quote for a `volume` or `points` target."""
    if kind == "points":
        return volume_for_points(int(value), mul_point)
    return value


DAY_MS = 86_400_000  # a UTC day in Unix time: no leap seconds, so every day starts at a multiple of this
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def utc_day(ms: int) -> str:
    """The UTC trading day of a timestamp, the day Alpha points are cut on (00:00 UTC)."""
    return date.fromordinal(_EPOCH_ORDINAL + ms // DAY_MS).isoformat()


def day_span(ms: int) -> tuple[str, int, int]:
    """The UTC day of a timestamp and the milliseconds it spans, [start, end): the next midnight is `end`."""
    start = ms - ms % DAY_MS
    return utc_day(start), start, start + DAY_MS


@dataclass(slots=True)
class DayBook:
    """One user's trading day: the UTC day, quote bought so far, cycles, and the target it is measured against."""

    day: str = ""
    volume: Decimal = Decimal(0)  # quote spent on buys today (what Alpha volume points count)
    cycles: int = 0
    kind: str = "volume"  # volume | points
    value: Decimal = Decimal(0)
    mul_point: int = 1
    target: Decimal = Decimal(0)  # today's goal as quote bought
    # The span of `_span_day` in ms, so that asking "still today?" (every decision, every fill) is two integer
    # comparisons until the next midnight, not a date formatted per call. Trusted only while `day` is that day.
    _span_day: str = field(default="", init=False, repr=False, compare=False)
    _start_ms: int = field(default=0, init=False, repr=False, compare=False)
    _end_ms: int = field(default=0, init=False, repr=False, compare=False)

    def roll(self, now_ms: int) -> bool:
        """Start a new day at 00:00 UTC; True when it did."""
        if self._today(now_ms):
            return False
        day, self._start_ms, self._end_ms = day_span(now_ms)
        self._span_day = day
        if day == self.day:
            return False
        self.day, self.volume, self.cycles = day, Decimal(0), 0
        return True

    def _today(self, ms: int) -> bool:
        if self._span_day != self.day:  # `day` was set from outside (a restore): learn its span once, from `ms`
            day, start, end = day_span(ms)
            if day != self.day:
                return False
            self._span_day, self._start_ms, self._end_ms = day, start, end
        return self._start_ms <= ms < self._end_ms

    def set_target(self, kind: str, value: Decimal, mul_point: int) -> None:
        self.kind, self.value, self.mul_point = kind, value, mul_point
        self.target = target_volume(kind, value, mul_point)

    def add_buy(self, quote: Decimal, time_ms: int) -> None:
        if self._today(time_ms):
            self.volume += quote

    @property
    def reached(self) -> bool:
        return self.volume >= self.target

    @property
    def remaining(self) -> Decimal:
        return max(self.target - self.volume, Decimal(0))

    def order_amount(self, per_cycle: Decimal) -> Decimal:
        """The next BUY's quote: the configured size, or less when less is left to reach the target (for a
        points target the target volume is itself the next points threshold, so this reaches it exactly)."""
        return min(per_cycle, self.remaining)

    def progress(self) -> str:
        """`1040/2000 (52 %)` for volume targets; `9/12 points (75 %)` for points targets."""
        if self.kind == "points":
            got = volume_points(self.volume, self.mul_point)
            pct = Decimal(got) / self.value * 100 if self.value else Decimal(0)
            return f"{got}/{int(self.value)} points ({pct:.0f} %)"
        pct = self.volume / self.target * 100 if self.target else Decimal(0)
        return f"{self.volume.quantize(CENT)}/{self.target.quantize(CENT)} ({pct:.0f} %)"

    def status(self, per_cycle: Decimal) -> dict[str, Any]:
        """The day's fields of `otobot status` (the daemon's and the offline report's rows use the same)."""
        pct = self.volume / self.target * 100 if self.target else Decimal(0)
        left = int((self.remaining / per_cycle).to_integral_value(rounding=ROUND_CEILING)) if per_cycle else 0
        return {"day": self.day, "volume_today": fmt(self.volume), "target_volume": fmt(self.target),
                "pct_done": f"{pct:.1f}", "cycles_today": self.cycles, "cycles_left_est": left}


def marked_loss(buy_quote: Decimal, sell_quote: Decimal, sell_fees: Decimal,
                holdings: list[Holding]) -> tuple[Decimal, Decimal]:
    """(loss in quote, inventory value): quote paid for buys less quote kept from sells, less the base still held
    valued at its last price, so unsold inventory is shown as inventory, not as loss."""
    inventory = sum((h.value for h in holdings), Decimal(0))
    return buy_quote - sell_quote + sell_fees - inventory, inventory
