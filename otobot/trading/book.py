"""Pure local order book: REST snapshot + `@fulldepth` diffs with the §4.1 continuity rule, and depth queries."""

from __future__ import annotations

import weakref
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


class Levels:
    """Both sides of a book at `update_id`. Once `published` (shared by the bots of a symbol through a BookLine) it
    never changes again: a frame makes a new Levels, and the first bot to make it leaves it for the others."""

    __slots__ = ("__weakref__", "_after", "_asks_sorted", "_bids_sorted", "_next", "asks", "bids", "published",
                 "update_id")

    def __init__(self, bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal], update_id: int | None) -> None:
        self.bids = bids
        self.asks = asks
        self.update_id = update_id
        self.published = False
        self._bids_sorted: tuple[Level, ...] | None = None
        self._asks_sorted: tuple[Level, ...] | None = None
        self._after: DepthUpdate | None = None  # the last frame applied to this state ...
        self._next: weakref.ref[Levels] | None = None  # ... and its result (weak: a dead bot must not pin the chain)

    def sorted_bids(self) -> tuple[Level, ...]:
        if self._bids_sorted is None:
            self._bids_sorted = tuple(sorted(self.bids.items(), reverse=True))
        return self._bids_sorted

    def sorted_asks(self) -> tuple[Level, ...]:
        if self._asks_sorted is None:
            self._asks_sorted = tuple(sorted(self.asks.items()))
        return self._asks_sorted

    def best_bid(self) -> Decimal | None:
        if self._bids_sorted is not None:
            return self._bids_sorted[0][0] if self._bids_sorted else None
        return max(self.bids) if self.bids else None

    def best_ask(self) -> Decimal | None:
        if self._asks_sorted is not None:
            return self._asks_sorted[0][0] if self._asks_sorted else None
        return min(self.asks) if self.asks else None

    def same_as(self, other: Levels) -> bool:
        return self.update_id == other.update_id and self.bids == other.bids and self.asks == other.asks

    def known_next(self, update: DepthUpdate) -> Levels | None:
        """The state another bot already made from this one with this very frame object (one decode per frame)."""
        if self._after is not update or self._next is None:
            return None
        return self._next()

    def remember(self, update: DepthUpdate, after: Levels) -> None:
        self._after, self._next = update, weakref.ref(after)

    def changed(self, update: DepthUpdate) -> Levels:
        """The state after `update`: in place while private, a copy once published."""
        if self.published:
            target = Levels(self.bids.copy(), self.asks.copy(), self.update_id)  # its sorted sides start unknown
        else:
            target = self
            self._bids_sorted = self._asks_sorted = None
        for side, levels in ((target.bids, update.bids), (target.asks, update.asks)):
            for price, qty in levels:
                if qty > 0:
                    side[price] = qty
                else:
                    side.pop(price, None)  # removing a level we never held is normal (§4.1)
        target.update_id = update.last_id
        return target


class BookLine:
    """The newest published Levels of one symbol, shared by the LocalBooks of every bot on it. A book adopts it only
    when it holds exactly the same levels at the same update id, so sharing never changes what a book shows;
    continuity, buffering and freshness stay with each LocalBook (each bot's own socket)."""

    __slots__ = ("head",)

    def __init__(self) -> None:
        self.head: Levels | None = None

    def share(self, levels: Levels) -> Levels:
        """`levels`, or the equal head in its place; publishes what it returns."""
        head = self.head
        if head is not None and head is not levels and head.same_as(levels):
            return head
        levels.published = True
        if head is None or (levels.update_id or 0) > (head.update_id or 0):
            self.head = levels
        return levels


class LocalBook:
    """One symbol's book as the exchange publishes it. Crossed books are kept as they are (Alpha aggregates several
    sources, §7.6); each side is only ever read on its own. `updated_at` is the caller's clock at the last change,
    so freshness is judged by the caller's `now`, never by the exchange's timestamps. With a `line`, bots on the
    same symbol share the applied levels (each frame applied once, the sorted sides sorted once)."""

    def __init__(self, symbol: str, line: BookLine | None = None) -> None:
        self.symbol = symbol
        self._line = line
        self._levels = Levels({}, {}, None)
        self.update_id: int | None = None  # None: no snapshot applied yet
        self.synced = False  # a snapshot is applied and every frame since followed on
        self.updated_at: float | None = None
        self._first_after_snapshot = False
        self._buffer: list[DepthUpdate] = []
        self.gaps = 0

    # ------------------------------------------------------------ feeding

    def reset(self, snapshot: DepthSnapshot, now: float) -> list[Applied]:
        """Take a REST snapshot, then replay the frames buffered meanwhile; returns what each replay did."""
        # Private until the replay is done, so the replay changes it in place.
        self._levels = Levels({p: q for p, q in snapshot.bids if q > 0}, {p: q for p, q in snapshot.asks if q > 0},
                              snapshot.last_update_id)
        self.update_id = snapshot.last_update_id
        self.synced = True
        self._first_after_snapshot = True
        self.updated_at = now
        buffered, self._buffer = self._buffer, []
        replayed = [self.apply(u, now) for u in buffered]
        if self._line is not None:
            self._levels = self._line.share(self._levels)
        return replayed

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
        self._levels = self._advance(update)
        self.update_id = update.last_id
        self._first_after_snapshot = False
        self.updated_at = now
        return Applied.APPLIED

    def _advance(self, update: DepthUpdate) -> Levels:
        levels = self._levels
        after = levels.known_next(update)  # another bot on this symbol applied this frame to this state already
        if after is not None:
            return after
        after = levels.changed(update)
        if levels.published and self._line is not None:
            after = self._line.share(after)
            levels.remember(update, after)
        return after

    def set_top(self, ticker: BookTicker, now: float) -> None:
        """A book from `@bookTicker` alone: one level per side, replaced by every frame (no continuity to keep)."""
        bids = {ticker.bid_price: ticker.bid_qty} if ticker.bid_qty > 0 and ticker.bid_price > 0 else {}
        asks = {ticker.ask_price: ticker.ask_qty} if ticker.ask_qty > 0 and ticker.ask_price > 0 else {}
        self._levels = Levels(bids, asks, ticker.update_id)
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

    def shows(self, snapshot: DepthSnapshot, limit: int) -> bool:
        """The snapshot's levels are this book's best ones, as deep as a `limit`-level snapshot reaches. Levels, not
        ids: whether a snapshot's lastUpdateId counts only this symbol's changes is not captured (§4.1), and an
        unchanged book must never look changed."""
        for ours, theirs, best_first in ((self.bids(), snapshot.bids, True), (self.asks(), snapshot.asks, False)):
            want = tuple(sorted(((p, q) for p, q in theirs if q > 0), reverse=best_first))
            if ours[:len(want)] != want or (len(ours) > len(want) and len(want) < limit):
                return False
        return True

    @property
    def levels(self) -> Levels:
        """The state this book shows; the very object other books on the line show when they hold the same."""
        return self._levels

    def bids(self) -> tuple[Level, ...]:
        """Best (highest) first."""
        return self._levels.sorted_bids()

    def asks(self) -> tuple[Level, ...]:
        """Best (lowest) first."""
        return self._levels.sorted_asks()

    def best_bid(self) -> Decimal | None:
        return self._levels.best_bid()

    def best_ask(self) -> Decimal | None:
        return self._levels.best_ask()

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
