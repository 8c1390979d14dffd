"""Pure limit order book with price-time priority: submit returns the trades, no I/O, no clock."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from otobot.exchange.filters import pay_amount

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

    @property
    def buyer_is_maker(self) -> bool:
        return self.taker_side == SELL


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one fill moves. BUY fee in the base asset, SELL fee in quote (alpha-api.md §6.4)."""

    qty: Decimal  # base the seller gives
    quote: Decimal  # quote the buyer pays: price × qty truncated to 8 dp, like the pay amount
    buyer_fee: Decimal  # base kept by the exchange
    seller_fee: Decimal  # quote kept by the exchange

    @property
    def buyer_gets(self) -> Decimal:
        return self.qty - self.buyer_fee

    @property
    def seller_gets(self) -> Decimal:
        return self.quote - self.seller_fee


FEE_QUANTUM = Decimal("0.00000001")


def settle(price: Decimal, qty: Decimal, fee_rate: Decimal) -> Settlement:
    """The balances one fill moves: buyer's fee = qty × rate (exact, "0.086956" on 869.56 as captured);
    seller's fee = quote × rate rounded half-even to 8 dp ("0.01519059" on 151.90587611 as captured)."""
    quote = pay_amount(price, qty)
    return Settlement(qty, quote, qty * fee_rate, (quote * fee_rate).quantize(FEE_QUANTUM))


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

    def reduce(self, order_id: int, remaining: Decimal) -> None:
        """Lower a resting order's quantity in place: it keeps its place in the queue (0 cancels it)."""
        order = self._orders.get(order_id)
        if order is None:
            return
        if remaining <= 0:
            self.cancel(order_id)
        else:
            order.remaining = min(order.remaining, remaining)

    def orders_of(self, owner: str) -> list[BookOrder]:
        return [o for o in self._orders.values() if o.owner == owner]

    def crossed(self) -> bool:
        """True if the best bid is at or above the best ask (never so after `submit`)."""
        bid, ask = self.best(BUY), self.best(SELL)
        return bid is not None and ask is not None and bid >= ask

    def resting(self, order_id: int) -> BookOrder | None:
        return self._orders.get(order_id)

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
