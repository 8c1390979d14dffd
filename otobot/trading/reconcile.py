"""Pure matching of our written intents against what the exchange reports, to adopt lost orders, never duplicate."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from otobot.exchange.models import BUY, FINAL_STATUSES, OTO_PENDING, OTO_WORKING, SELL, ExecutionReport, Order

# Exchange and local clocks disagree a little; an order may carry a time slightly before our intent.
CLOCK_SKEW_MS = 5_000
PLAIN = "-1"  # the orderListId of an order in no list: a plain LIMIT (the user's own, or an unwind), never an OTO leg
UNKNOWN = ""  # no orderListId in the row at all (open orders, alpha-api.md §2.4): it may be either


def _may_be_oto_leg(o: Order) -> bool:
    return o.order_list_id != PLAIN


def match_oto(*, symbol: str, working_price: Decimal, quantity: Decimal, intent_ms: int,
              orders: Iterable[Order], claimed: set[str],
              pending_price: Decimal | None = None) -> tuple[Order, Order | None] | None:
    """The OTO a lost place request created: a BUY working leg with our price and quantity, created at or
    after our intent, whose id no other cycle owns and which is in a list (an orderListId "-1" is a plain
    order: the user's own LIMIT at the same price is never taken for our OTO); plus its pending leg if listed
    (see `find_pending`).

    Among several candidates the earliest wins: a bot places at most one OTO per intent.
    """
    pool = list(orders)
    candidates = sorted(
        (o for o in pool
         if o.symbol == symbol and o.side == BUY and o.price == working_price and o.orig_qty == quantity
         and o.contingency_position in (OTO_WORKING, None) and o.time_ms >= intent_ms - CLOCK_SKEW_MS
         and o.order_id not in claimed and _may_be_oto_leg(o)),
        key=lambda o: (o.time_ms, o.order_id),
    )
    if not candidates:
        return None
    working = candidates[0]
    return working, find_pending(working, pool, claimed, pending_price)


def find_pending(working: Order, orders: Iterable[Order], claimed: set[str],
                 pending_price: Decimal | None = None) -> Order | None:
    """The pending SELL leg of `working`'s OTO: the same order-list id when the rows carry one; when they do not
    (open-order rows, alpha-api.md §2.4), a SELL on the symbol at our pending price, created with the working leg
    (within the clock skew), for no more than it bought, in no other list, that no cycle owns. None: not listed
    yet (stored as unknown and looked up again, never guessed)."""
    def free(o: Order) -> bool:
        return (o.order_id != working.order_id and o.order_id not in claimed and o.side == SELL
                and o.symbol == working.symbol and _may_be_oto_leg(o))

    pool = [o for o in orders if free(o)]
    if working.order_list_id not in (UNKNOWN, PLAIN):
        same = [o for o in pool if o.order_list_id == working.order_list_id
                and o.contingency_position in (OTO_PENDING, None)]
        if same:
            return same[0]
    if pending_price is None:
        return None
    near = sorted((o for o in pool
                   if o.order_list_id in (UNKNOWN, working.order_list_id) and o.price == pending_price
                   and o.contingency_position in (OTO_PENDING, None) and o.orig_qty <= working.orig_qty
                   and abs(o.time_ms - working.time_ms) <= CLOCK_SKEW_MS),
                  key=lambda o: (abs(o.time_ms - working.time_ms), o.order_id))
    return near[0] if near else None


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


def orders_of_events(events: Iterable[ExecutionReport]) -> list[Order]:
    """What the user stream showed of orders, as the rows a lookup would list (each order's newest state, its first
    event's time as its time): evidence for a settle while open orders and history lag behind (issue 19)."""
    first: dict[str, int] = {}
    last: dict[str, ExecutionReport] = {}
    for r in events:
        first.setdefault(r.order_id, r.transact_time_ms or r.event_time_ms)
        cur = last.get(r.order_id)
        if cur is None or (r.cum_qty, r.status in FINAL_STATUSES) >= (cur.cum_qty, cur.status in FINAL_STATUSES):
            last[r.order_id] = r
    return [Order(order_id=r.order_id, symbol=r.symbol, side=r.side, status=r.status, price=r.price,
                  orig_qty=r.orig_qty, executed_qty=r.cum_qty, cum_quote=r.cum_quote, order_list_id=r.order_list_id,
                  contingency_position=r.contingency_position, time_ms=first[r.order_id],
                  update_time_ms=r.transact_time_ms or r.event_time_ms) for r in last.values()]


def latest_by_id(orders: Iterable[Order]) -> dict[str, Order]:
    """One row per order id, the most advanced one (open orders and history may both list an order)."""
    out: dict[str, Order] = {}
    for o in orders:
        cur = out.get(o.order_id)
        if cur is None or (o.executed_qty, o.is_final, o.update_time_ms) > (cur.executed_qty, cur.is_final,
                                                                             cur.update_time_ms):
            out[o.order_id] = o
    return out
