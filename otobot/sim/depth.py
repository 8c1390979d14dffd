"""The simulator's published order book: update ids, `depthUpdate` and `bookTicker` frames, fullDepth snapshots.

Every observed change of a symbol's book takes ids from ONE sequence shared by all symbols, as on Alpha (§4.1: the
captured frame has `pu` far below `U`), so a symbol's consecutive frames are linked by `pu` == previous `u`, never
by U == pu + 1. A snapshot observes the book first, so the next frame of any stream starts at or before it.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from otobot.exchange.filters import fmt
from otobot.sim.config import SimSymbol
from otobot.sim.matching import BUY, SELL, OrderBook

LOG_MAX = 200  # change batches kept per symbol: enough for a 500 ms stream to catch up
PUBLISHED_LEVELS = 1000  # the largest fullDepth limit (§1.1)


@dataclass(frozen=True, slots=True)
class _Batch:
    prev: int  # the symbol's update id before this batch
    first: int
    last: int
    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]


def _diff(before: dict[Decimal, Decimal], after: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """Levels whose quantity changed, with the new quantity (0 = removed)."""
    zero = Decimal(0)
    return {p: after.get(p, zero) for p in before.keys() | after.keys() if after.get(p, zero) != before.get(p, zero)}


def _text_levels(levels: dict[Decimal, Decimal], sym: SimSymbol, reverse: bool) -> list[list[str]]:
    """Strings on the wire, price on the tick and quantity on the step ("0.000005530", "34940853.20"; §7.6)."""
    return [[fmt(p.quantize(sym.tick)), fmt(q.quantize(sym.step))] for p, q in sorted(levels.items(), reverse=reverse)]


class DepthFeed:
    """Observes the matching engine's books and turns changes into id-stamped batches; each stream keeps a cursor."""

    def __init__(self, books: dict[str, OrderBook], symbols: dict[str, SimSymbol], *, start_id: int,
                 crossed_p: float = 0.0, seed: int = 1) -> None:
        self.books = books
        self.symbols = symbols
        self._seq = start_id
        self._seen: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {p: ({}, {}) for p in books}
        self._last_id: dict[str, int] = dict.fromkeys(books, start_id)
        self._log: dict[str, deque[_Batch]] = {p: deque(maxlen=LOG_MAX) for p in books}
        self._cursor: dict[str, int] = {}  # stream name → the last `u` it published
        self._tops: dict[str, tuple[str, str, str, str]] = {}  # bookTicker stream → last top sent
        # UNCERTAIN, alpha-api.md §7.6: Alpha's aggregated book is sometimes crossed. With probability crossed_p per
        # observation a phantom bid from "another source" appears above the best ask (or vanishes again). It is in
        # the published book only; the matching engine never sees it.
        self.crossed_p = crossed_p
        self._rng = random.Random(seed)
        self._phantom: dict[str, tuple[Decimal, Decimal] | None] = dict.fromkeys(books)
        for pair in books:
            self.observe(pair)

    def _view(self, pair: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        book = self.books[pair]
        bids = dict(book.depth(BUY, PUBLISHED_LEVELS))
        asks = dict(book.depth(SELL, PUBLISHED_LEVELS))
        if self.crossed_p > 0 and self._rng.random() < self.crossed_p:
            self._toggle_phantom(pair, asks)
        phantom = self._phantom[pair]
        if phantom is not None:
            bids[phantom[0]] = bids.get(phantom[0], Decimal(0)) + phantom[1]
        return bids, asks

    def _toggle_phantom(self, pair: str, asks: dict[Decimal, Decimal]) -> None:
        if self._phantom[pair] is not None or not asks:
            self._phantom[pair] = None
            return
        sym = self.symbols[pair]
        best_ask = min(asks)
        price = best_ask + sym.tick * self._rng.randint(1, 3)
        self._phantom[pair] = (price, max(sym.min_qty, (sym.level_quote / 10 / price).quantize(sym.step)))

    def observe(self, pair: str) -> int:
        """Record the book's changes since the last look as one batch; returns the symbol's latest update id."""
        bids, asks = self._view(pair)
        seen_bids, seen_asks = self._seen[pair]
        d_bids, d_asks = _diff(seen_bids, bids), _diff(seen_asks, asks)
        if d_bids or d_asks:
            first = self._seq + 1
            self._seq += len(d_bids) + len(d_asks)
            self._log[pair].append(_Batch(self._last_id[pair], first, self._seq, d_bids, d_asks))
            self._last_id[pair] = self._seq
            self._seen[pair] = (bids, asks)
        return self._last_id[pair]

    def snapshot(self, pair: str, limit: int, now_ms: int) -> dict[str, Any]:
        """fullDepth `data` with the keys and order of the §7.6 capture."""
        last = self.observe(pair)
        sym = self.symbols[pair]
        bids, asks = self._seen[pair]
        top_bids = dict(sorted(bids.items(), reverse=True)[:limit])
        top_asks = dict(sorted(asks.items())[:limit])
        return {"lastUpdateId": last, "symbol": pair, "bids": _text_levels(top_bids, sym, True),
                "asks": _text_levels(top_asks, sym, False), "E": now_ms, "T": now_ms}

    def start(self, stream: str, pair: str) -> None:
        """A stream's first subscriber arrived: its first frame will hold every change from now on."""
        if stream not in self._cursor:
            self._cursor[stream] = self.observe(pair)

    def depth_frame(self, stream: str, pair: str, now_ms: int) -> dict[str, Any] | None:
        """The next `depthUpdate` of one stream: every batch since its cursor merged (last quantity wins)."""
        last = self.observe(pair)
        cursor = self._cursor.setdefault(stream, last)
        if last == cursor:
            return None
        batches = [b for b in self._log[pair] if b.last > cursor]
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for batch in batches:
            bids.update(batch.bids)
            asks.update(batch.asks)
        self._cursor[stream] = last
        # If the log no longer reaches back to the cursor, `pu` says so (≠ the client's last u) and it resyncs.
        prev = batches[0].prev
        sym = self.symbols[pair]
        return {"e": "depthUpdate", "E": now_ms, "T": now_ms, "s": pair, "U": batches[0].first, "u": last, "pu": prev,
                "b": _text_levels(bids, sym, True), "a": _text_levels(asks, sym, False)}

    def ticker_frame(self, stream: str, pair: str, now_ms: int) -> dict[str, Any] | None:
        """A `bookTicker` when the top of the book changed since this stream's last frame (S4 model keys)."""
        last = self.observe(pair)
        sym = self.symbols[pair]
        bids, asks = self._seen[pair]
        zero = ("0", "0")
        bid = (fmt(max(bids).quantize(sym.tick)), fmt(bids[max(bids)].quantize(sym.step))) if bids else zero
        ask = (fmt(min(asks).quantize(sym.tick)), fmt(asks[min(asks)].quantize(sym.step))) if asks else zero
        top = (*bid, *ask)
        if self._tops.get(stream) == top:
            return None
        self._tops[stream] = top
        return {"e": "bookTicker", "E": now_ms, "T": now_ms, "u": last, "s": pair, "b": bid[0], "B": bid[1],
                "a": ask[0], "A": ask[1]}

    def lose_frame(self, stream: str, pair: str) -> None:
        """Fault: the changes not yet published on `stream` are never sent, so its next frame's `pu` is a gap."""
        self._cursor[stream] = self.observe(pair)

    def forget(self, stream: str) -> None:
        """The last subscriber left: the next one starts afresh."""
        self._cursor.pop(stream, None)
        self._tops.pop(stream, None)
