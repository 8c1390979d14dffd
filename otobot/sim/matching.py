"""Pure limit order book with price-time priority: submit returns the trades, no I/O, no clock."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

BUY = "BUY"
SELL = "SELL"


@dataclass(slots=True)
class BookOrder:
    order_id: int
    owner: str
    side: str
    price: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill between a resting maker and an incoming taker, at the maker's price."""

    maker_id: int
    taker_id: int
    maker_owner: str
    taker_owner: str
    taker_side: str
    price: Decimal
    qty: Decimal


class OrderBook:
    """Bids and asks as price levels (FIFO queues); prices kept sorted ascending for bisect."""

    def __init__(self) -> None:
        self._levels: dict[str, dict[Decimal, deque[BookOrder]]] = {BUY: {}, SELL: {}}
        self._prices: dict[str, list[Decimal]] = {BUY: [], SELL: []}
        self._orders: dict[int, BookOrder] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def best(self, side: str) -> Decimal | None:
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side == BUY else prices[0]

    def depth(self, side: str, levels: int) -> list[tuple[Decimal, Decimal]]:
        prices = self._prices[side]
        chosen = reversed(prices[-levels:]) if side == BUY else prices[:levels]
        return [(p, sum((o.remaining for o in self._levels[side][p]), Decimal(0))) for p in chosen]

    def submit(self, order: BookOrder, *, rest: bool = True) -> list[Trade]:
        """Match `order` against the other side while prices cross; rest the remainder unless `rest` is False."""
        trades: list[Trade] = []
        other = SELL if order.side == BUY else BUY
        while order.remaining > 0:
            best = self.best(other)
            if best is None or (best > order.price if order.side == BUY else best < order.price):
                break
            queue = self._levels[other][best]
            maker = queue[0]
            qty = min(maker.remaining, order.remaining)
            maker.remaining -= qty
            order.remaining -= qty
            trades.append(Trade(maker.order_id, order.order_id, maker.owner, order.owner, order.side, best, qty))
            if maker.remaining == 0:
                queue.popleft()
                del self._orders[maker.order_id]
                if not queue:
                    self._remove_level(other, best)
        if order.remaining > 0 and rest:
            self._add(order)
        return trades

    def cancel(self, order_id: int) -> BookOrder | None:
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        queue = self._levels[order.side][order.price]
        queue.remove(order)
        if not queue:
            self._remove_level(order.side, order.price)
        return order

    def orders_of(self, owner: str) -> list[BookOrder]:
        return [o for o in self._orders.values() if o.owner == owner]

    def _add(self, order: BookOrder) -> None:
        levels = self._levels[order.side]
        if order.price not in levels:
            levels[order.price] = deque()
            bisect.insort(self._prices[order.side], order.price)
        levels[order.price].append(order)
        self._orders[order.order_id] = order

    def _remove_level(self, side: str, price: Decimal) -> None:
        del self._levels[side][price]
        prices = self._prices[side]
        i = bisect.bisect_left(prices, price)
        del prices[i]
