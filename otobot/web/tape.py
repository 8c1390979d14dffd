"""The last hour of prices the bots see, per symbol, for the dashboard's chart: fed by the daemon's trade cache."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from otobot.exchange.models import AggTrade
from otobot.exchange.streams import TradeCache

TAPE_SPAN_MS = 3_600_000
TAPE_STEP_MS = 1_000  # one point per second per symbol: ≤ 3,600 points, whatever the trade rate


class PriceTape(TradeCache):
    """A TradeCache that also keeps each symbol's last price per second for an hour.

    Every frame the bots read goes through the cache once (the first bot on a symbol decodes it, the others hit),
    so the tape costs one append per second per symbol and sees exactly the trades the bots trade on. A frame
    decoded twice (evicted from the cache between two bots) adds nothing: trade ids only go forward."""

    __slots__ = ("_last_id", "_series", "span_ms")

    def __init__(self, size: int = 256, span_ms: int = TAPE_SPAN_MS) -> None:
        super().__init__(size)
        self.span_ms = span_ms
        self._series: dict[str, deque[tuple[int, Decimal]]] = {}
        self._last_id: dict[str, int] = {}

    def put(self, raw: str, trade: AggTrade) -> None:
        super().put(raw, trade)
        self.record(trade)

    def record(self, trade: AggTrade) -> None:
        try:
            agg = int(trade.agg_id)
        except ValueError:
            agg = 0
        if agg and agg <= self._last_id.get(trade.symbol, 0):
            return
        self._last_id[trade.symbol] = agg
        series = self._series.setdefault(trade.symbol, deque())
        second = trade.trade_time_ms - trade.trade_time_ms % TAPE_STEP_MS
        if series and series[-1][0] >= second:
            series[-1] = (series[-1][0], trade.price)  # the second's last price
        else:
            series.append((second, trade.price))
        while series and series[0][0] < second - self.span_ms:
            series.popleft()

    def points(self, symbol: str, since_ms: int = 0) -> list[tuple[int, Decimal]]:
        return [p for p in self._series.get(symbol, ()) if p[0] >= since_ms]

    def symbols(self) -> list[str]:
        return sorted(self._series)
