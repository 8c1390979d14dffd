"""One symbol's public 24 h ticker (GET alpha-trade/ticker, alpha-api.md §1.1) as a typed value."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from otobot.exchange.errors import MalformedMessage
from otobot.exchange.models import dec


@dataclass(frozen=True, slots=True)
class Ticker24h:
    symbol: str
    last: Decimal
    high: Decimal
    low: Decimal
    open: Decimal
    base_volume: Decimal
    quote_volume: Decimal
    trades: int
    close_ms: int | None

    @classmethod
    def parse(cls, raw: Any, symbol: str) -> Ticker24h:
        """lastPrice is required; the other fields are the official ticker's, each defaulting to what the
        answer says without it (a missing high or low is the last price: no range known)."""
        if not isinstance(raw, dict):
            raise MalformedMessage("ticker data is not an object")
        last = dec(raw, "lastPrice")
        count = raw.get("count")
        close = raw.get("closeTime")
        return cls(symbol=str(raw.get("symbol") or symbol), last=last, high=dec(raw, "highPrice", last),
                   low=dec(raw, "lowPrice", last), open=dec(raw, "openPrice", last),
                   base_volume=dec(raw, "volume", Decimal(0)), quote_volume=dec(raw, "quoteVolume", Decimal(0)),
                   trades=int(count) if isinstance(count, int | str) and str(count).isdigit() else 0,
                   close_ms=int(close) if isinstance(close, int) and not isinstance(close, bool) else None)
