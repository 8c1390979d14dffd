"""Pure local order book: REST snapshot + `@fulldepth` diffs with the §4.1 continuity rule, and depth queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from otobot.exchange.book import BookTicker, DepthSnapshot, DepthUpdate, Level

BUFFER_MAX = 1000  # diff frames kept while waiting for a snapshot; more means the snapshot is hopelessly late


class Applied(Enum):
    """What `LocalBook.apply` did with one diff frame."""

    APPLIED = "applied"
    BUFFERED = "buffered"  # no snapshot yet (or resyncing): kept for replay after the next snapshot
    OLD = "old"  # u ≤ the book's update id: already in the snapshot, dropped (§4.1 bootstrap)
    GAP = "gap"  # continuity broken: the book needs a fresh snapshot


class LocalBook:
    """One symbol's book as the exchange publishes it. Crossed books are kept as they are (Alpha aggregates several
    sources, §7.6); each side is only ever read on its own. `updated_at` is the caller's clock at the last change,
    so freshness is judged by the caller's `now`, never by the exchange's timestamps."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self.update_id: int | None = None  # None: no snapshot applied yet
        self.synced = False  # a snapshot is applied and every frame since followed on
        self.updated_at: float | None = None
        self._first_after_snapshot = False
        self._buffer: list[DepthUpdate] = []
        self.gaps = 0

    # ------------------------------------------------------------ feeding

    def reset(self, snapshot: DepthSnapshot, now: float) -> list[Applied]:
        """Take a REST snapshot, then replay the frames buffered meanwhile; returns what each replay did."""
        self._bids = {p: q for p, q in snapshot.bids if q > 0}
        self._asks = {p: q for p, q in snapshot.asks if q > 0}
        self.update_id = snapshot.last_update_id
        self.synced = True
        self._first_after_snapshot = True
        self.updated_at = now
        buffered, self._buffer = self._buffer, []
        return [self.apply(u, now) for u in buffered]

    def apply(self, update: DepthUpdate, now: float) -> Applied:
        """One diff frame. Bootstrap: drop u ≤ snapshot id; the first frame after it must have pu ≤ the snapshot id
        (ids are shared across symbols, so U may lie beyond it); after that pu must equal the previous u."""
        if not self.synced or self.update_id is None:
            if len(self._buffer) >= BUFFER_MAX:
                del self._buffer[: BUFFER_MAX // 2]
            self._buffer.append(update)
            return Applied.BUFFERED
        if update.last_id <= self.update_id:
            return Applied.OLD
        follows = update.prev_id <= self.update_id if self._first_after_snapshot else update.prev_id == self.update_id
        if not follows:
            self.synced = False
            self.gaps += 1
            self._buffer = [update]
            return Applied.GAP
        for side, levels in ((self._bids, update.bids), (self._asks, update.asks)):
            for price, qty in levels:
                if qty > 0:
                    side[price] = qty
                else:
                    side.pop(price, None)  # removing a level we never held is normal (§4.1)
        self.update_id = update.last_id
        self._first_after_snapshot = False
        self.updated_at = now
        return Applied.APPLIED

    def set_top(self, ticker: BookTicker, now: float) -> None:
        """A book from `@bookTicker` alone: one level per side, replaced by every frame (no continuity to keep)."""
        self._bids = {ticker.bid_price: ticker.bid_qty} if ticker.bid_qty > 0 and ticker.bid_price > 0 else {}
        self._asks = {ticker.ask_price: ticker.ask_qty} if ticker.ask_qty > 0 and ticker.ask_price > 0 else {}
        self.update_id = ticker.update_id
        self.synced = True
        self._first_after_snapshot = False
        self.updated_at = now

    def invalidate(self) -> None:
        """Frames were missed (the stream reconnected): keep the levels for display, price nothing until a resync."""
        self.synced = False
        self._buffer = []

    def touch(self, now: float) -> None:
        """The stream is alive but the book did not change (a quiet market is not a stale book)."""
        if self.synced:
            self.updated_at = now

    # ------------------------------------------------------------ reading

    @property
    def needs_resync(self) -> bool:
        """True after a gap (or before the first snapshot): fetch REST fullDepth and `reset`."""
        return not self.synced

    def age(self, now: float) -> float | None:
        return None if self.updated_at is None else now - self.updated_at

    def bids(self) -> tuple[Level, ...]:
        """Best (highest) first."""
        return tuple(sorted(self._bids.items(), reverse=True))

    def asks(self) -> tuple[Level, ...]:
        """Best (lowest) first."""
        return tuple(sorted(self._asks.items()))

    def best_bid(self) -> Decimal | None:
        return max(self._bids) if self._bids else None

    def best_ask(self) -> Decimal | None:
        return min(self._asks) if self._asks else None

    def crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask


# ---------------------------------------------------------------- depth queries on best-first levels


def cover_level(levels: Iterable[Level], qty: Decimal) -> Decimal | None:
    """The price of the first level (best first) at which the cumulative quantity reaches `qty`; None if too thin."""
    total = Decimal(0)
    for price, level_qty in levels:
        total += level_qty
        if total >= qty:
            return price
    return None


def cumulative(levels: Iterable[Level]) -> Decimal:
    return sum((q for _, q in levels), Decimal(0))


@dataclass(frozen=True, slots=True)
class Sweep:
    """Taking `qty` from one side: how much was there, what it costs in quote, and the worst price touched."""

    qty: Decimal
    quote: Decimal
    worst: Decimal | None

    @property
    def average(self) -> Decimal | None:
        return self.quote / self.qty if self.qty > 0 else None


def sweep(levels: Iterable[Level], qty: Decimal) -> Sweep:
    """Walk the levels best first taking up to `qty`: a marketable order fills at the makers' prices."""
    left, quote, worst = qty, Decimal(0), None
    for price, level_qty in levels:
        if left <= 0:
            break
        take = min(left, level_qty)
        quote += take * price
        left -= take
        worst = price
    return Sweep(qty - left, quote, worst)


def sweep_quote(levels: Iterable[Level], amount: Decimal) -> Sweep:
    """Walk the levels best first spending up to `amount` of quote (a BUY sized in quote)."""
    left, qty, worst = amount, Decimal(0), None
    for price, level_qty in levels:
        if left <= 0:
            break
        take = min(level_qty, left / price)
        qty += take
        left -= take * price
        worst = price
    return Sweep(qty, amount - left, worst)
