"""Pure matching of our written intents against what the exchange reports, to adopt lost orders, never duplicate."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from otobot.exchange.models import BUY, OTO_PENDING, OTO_WORKING, Order

# Exchange and local clocks disagree a little; an order may carry a time slightly before our intent.
CLOCK_SKEW_MS = 5_000


def match_oto(*, symbol: str, working_price: Decimal, quantity: Decimal, intent_ms: int,
              orders: Iterable[Order], claimed: set[str]) -> tuple[Order, Order | None] | None:
    """The OTO a lost place request created: a BUY working leg with our price and quantity, created at or
    after our intent, whose id no other cycle owns; plus its pending leg (same order-list id) if listed.

    Among several candidates the earliest wins: a bot places at most one OTO per intent.
    """
    pool = list(orders)
    candidates = sorted(
        (o for o in pool
         if o.symbol == symbol and o.side == BUY and o.price == working_price and o.orig_qty == quantity
         and o.contingency_position in (OTO_WORKING, None) and o.time_ms >= intent_ms - CLOCK_SKEW_MS
         and o.order_id not in claimed),
        key=lambda o: (o.time_ms, o.order_id),
    )
    if not candidates:
        return None
    working = candidates[0]
    pending = None
    if working.order_list_id not in ("", "-1"):
        pending = next((o for o in pool if o.order_list_id == working.order_list_id
                        and o.contingency_position == OTO_PENDING and o.order_id != working.order_id), None)
    return working, pending


def match_limit(*, symbol: str, side: str, price: Decimal, quantity: Decimal, intent_ms: int,
                orders: Iterable[Order], claimed: set[str]) -> Order | None:
    """A plain LIMIT order a lost place request created (unwind sells), matched the same way."""
    candidates = sorted(
        (o for o in orders
         if o.symbol == symbol and o.side == side and o.price == price and o.orig_qty == quantity
         and o.contingency_position is None and o.time_ms >= intent_ms - CLOCK_SKEW_MS
         and o.order_id not in claimed),
        key=lambda o: (o.time_ms, o.order_id),
    )
    return candidates[0] if candidates else None


def latest_by_id(orders: Iterable[Order]) -> dict[str, Order]:
    """One row per order id, the most advanced one (open orders and history may both list an order)."""
    out: dict[str, Order] = {}
    for o in orders:
        cur = out.get(o.order_id)
        if cur is None or (o.executed_qty, o.is_final, o.update_time_ms) > (cur.executed_qty, cur.is_final,
                                                                             cur.update_time_ms):
            out[o.order_id] = o
    return out
