"""Synthetic market per symbol: a random-walk mid, a market maker's ladder around it, other traders taking."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from otobot.exchange.filters import floor_to
from otobot.sim.config import SimSymbol
from otobot.sim.exchange import Exchange
from otobot.sim.matching import BUY, SELL

MM = "mm"
TAKER = "taker"
BPS = Decimal("0.0001")


def next_mid(mid: Decimal, volatility_bps: Decimal, rng: random.Random, tick: Decimal) -> Decimal:
    """One step of a geometric random walk (pure given the rng), never below ten ticks."""
    shock = Decimal(str(rng.gauss(0.0, 1.0))).quantize(Decimal("0.000001"))
    return max(mid * (1 + shock * volatility_bps * BPS), tick * 10)


def ladder(mid: Decimal, sym: SimSymbol) -> list[tuple[str, Decimal, Decimal]]:
    """The maker's quotes: `levels` per side from half the spread outwards, `level_quote` of value each."""
    half = sym.tick * sym.spread_ticks / 2 if sym.spread_ticks > 0 else mid * sym.spread_bps * BPS / 2
    spacing = max(mid * BPS * 2, sym.tick)  # 2 bps between levels, at least one tick
    out = []
    for i in range(sym.levels):
        gap = half + spacing * i
        bid = (mid - gap).quantize(sym.tick, rounding=ROUND_FLOOR)
        ask = (mid + gap).quantize(sym.tick, rounding=ROUND_CEILING)
        if ask <= bid:
            ask = bid + sym.tick
        for side, price in ((BUY, bid), (SELL, ask)):
            if price <= 0:
                continue
            qty = floor_to(sym.level_quote / price, sym.step)
            if qty >= sym.min_qty:
                out.append((side, price, qty))
    return out


class Market:
    """Drives every symbol's background activity one tick at a time (the server calls `tick`)."""

    def __init__(self, exchange: Exchange, seed: int, tick_interval_s: float) -> None:
        self.exchange = exchange
        self.rng = random.Random(seed)
        self.dt = tick_interval_s
        self.mid = {s.pair: s.price for s in exchange.config.symbols}
        self._quotes: dict[str, list[int]] = {s.pair: [] for s in exchange.config.symbols}
        self.spreads: dict[str, Decimal] = {}  # pair → spread in bps set during the run (`/_sim/spread`)
        self.paused = False
        self.elapsed_s = 0.0  # market time: ticks × interval, stopped while paused
        self._moves = sorted(exchange.config.spread_moves)
        for sym in exchange.config.symbols:
            self._requote(sym)

    def tick(self) -> None:
        if self.paused:
            return
        self.elapsed_s += self.dt
        while self._moves and self._moves[0][0] <= self.elapsed_s:
            _, pair, bps = self._moves.pop(0)
            self.spreads[pair] = bps
        for sym in self.exchange.config.symbols:
            self.mid[sym.pair] = next_mid(self.mid[sym.pair], sym.volatility_bps, self.rng, sym.tick)
            self._requote(sym)
            # Poisson arrivals of other traders' taker orders.
            for _ in range(self._poisson(sym.trades_per_s * self.dt)):
                self._take(sym)

    def shock(self, pair: str, pct: Decimal) -> None:
        """Move the mid by `pct` % at once and requote: a burst that fills resting orders together."""
        sym = self.exchange.symbols[pair]
        self.mid[pair] = self.mid[pair] * (1 + pct / 100)
        self._requote(sym)

    def set_spread(self, pair: str, bps: Decimal) -> None:
        """Move one token's market-maker spread now (a test widens the cheapest token's spread mid-run)."""
        if pair not in self.exchange.symbols:
            raise KeyError(f"no simulated symbol {pair!r}; symbols: {sorted(self.exchange.symbols)}")
        if bps <= 0:
            raise ValueError(f"spread must be positive, not {bps} bps")
        self.spreads[pair] = bps
        self._requote(self.exchange.symbols[pair])

    def _requote(self, sym: SimSymbol) -> None:
        book = self.exchange.books[sym.pair]
        for oid in self._quotes[sym.pair]:
            book.cancel(oid)
        quoted = replace(sym, spread_bps=self.spreads[sym.pair], spread_ticks=0) if sym.pair in self.spreads else sym
        self._quotes[sym.pair] = [
            self.exchange.submit_background(sym, MM, side, price, qty, rest=True)
            for side, price, qty in ladder(self.mid[sym.pair], quoted)
        ]

    def _take(self, sym: SimSymbol) -> None:
        side = BUY if self.rng.random() < 0.5 else SELL
        size = sym.trade_quote * Decimal(str(round(self.rng.uniform(0.2, 1.8), 3)))
        mid = self.mid[sym.pair]
        qty = floor_to(size / mid, sym.step)
        if qty < sym.min_qty:
            return
        # Marketable limit, immediate-or-cancel: crosses up to 1 % away, never rests.
        reach = Decimal("1.01") if side == BUY else Decimal("0.99")
        price = (mid * reach).quantize(sym.tick)
        self.exchange.submit_background(sym, TAKER, side, price, qty, rest=False)

    def _poisson(self, lam: float) -> int:
        # Knuth's method: fine for the small rates per tick used here (a rate, not money).
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1
