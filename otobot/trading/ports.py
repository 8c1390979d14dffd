"""What the trading core needs from outside, as protocols: a clock, a metrics sink, a notifier."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def time_ms(self) -> int: ...
    def monotonic(self) -> float: ...


class SystemClock:
    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class MetricsSink(Protocol):
    def inc(self, name: str, value: float = 1.0, **labels: str) -> None: ...
    def set(self, name: str, value: float, **labels: str) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...


Notify = Callable[[str, str, str], None]  # (kind, user, text)
