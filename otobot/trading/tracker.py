"""Pure in-flight order tracking for one cycle: merge updates in any order, decide the machine's next trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from otobot.exchange.filters import FEE_RATE, floor_to
from otobot.exchange.models import (
    CANCELED,
    EXPIRED,
    FILLED,
    FINAL_STATUSES,
    NEW,
    PARTIALLY_FILLED,
    PENDING,
    REJECTED,
)

# Statuses only move forward; a reordered or replayed older event never moves one back.
_RANK = {"INTENT": 0, PENDING: 1, NEW: 2, PARTIALLY_FILLED: 3, FILLED: 4, CANCELED: 4, EXPIRED: 4, REJECTED: 4,
         "NOT_PLACED": 4}
LIVE = frozenset({PENDING, NEW, PARTIALLY_FILLED})


def merge_status(old: str, new: str) -> str:
    """The later of two statuses: ranks only rise, and a final status is never replaced."""
    if old in FINAL_STATUSES or old == "NOT_PLACED":
        return old
    return new if _RANK.get(new, 0) >= _RANK.get(old, 0) else old


@dataclass(slots=True)
class TrackedOrder:
    row_id: int
    role: str  # working | pending | unwind
    order_id: str | None
    side: str
    price: Decimal
    quantity: Decimal
    status: str
    cum_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    intent_ms: int = 0

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES or self.status == "NOT_PLACED"


@dataclass(slots=True)
class CycleOrders:
    """The orders of the cycle in flight, by role and by exchange id."""

    working: TrackedOrder | None = None
    pending: TrackedOrder | None = None
    unwinds: list[TrackedOrder] = field(default_factory=list)
    base_in: Decimal = Decimal(0)  # base the cycle started with (a dust sweep's quantity): it sells it too
    ladder_from: int = 0  # unwind SELLs before the ladder started again from its first rung (issue 19)

    def all(self) -> list[TrackedOrder]:
        return [o for o in (self.working, self.pending, *self.unwinds) if o is not None]

    def by_id(self, order_id: str) -> TrackedOrder | None:
        for o in self.all():
            if o.order_id == order_id:
                return o
        return None

    def live_count(self) -> int:
        return sum(1 for o in self.all() if o.live)

    @property
    def unwind(self) -> TrackedOrder | None:
        return self.unwinds[-1] if self.unwinds else None

    def base_bought(self) -> Decimal:
        """Base received by the working BUY: its fills less the buy fee (charged in base)."""
        w = self.working
        if w is None or w.cum_qty == 0:
            return self.base_in
        fee = w.fee if w.fee > 0 and w.fee_asset not in ("", "USDT", "USDC") else w.cum_qty * FEE_RATE
        return self.base_in + w.cum_qty - fee

    def base_sold(self) -> Decimal:
        sold = self.pending.cum_qty if self.pending else Decimal(0)
        return sold + sum((u.cum_qty for u in self.unwinds), Decimal(0))

    def leftover(self, step: Decimal) -> Decimal:
        """Base this cycle bought and has not sold, floored to the step (what a SELL can carry)."""
        return max(floor_to(self.base_bought() - self.base_sold(), step), Decimal(0))


def buy_done(orders: CycleOrders) -> bool:
    """Whether the working BUY is fully filled. The one place this is computed: a pending SELL seen NEW or
    FILLED proves it even when the BUY's own event is late (reordered) or was missed during an outage."""
    w, p = orders.working, orders.pending
    return w is not None and (w.status == FILLED or (p is not None and p.status in (NEW, PARTIALLY_FILLED, FILLED)))


def unwind_rung(orders: CycleOrders) -> int:
    """The ladder rung the next unwind SELL takes: one per SELL that reached the book (a request the exchange
    never applied, or refused with 429, takes the same rung again)."""
    return sum(1 for u in orders.unwinds if u.status != "NOT_PLACED") - orders.ladder_from


def unwinds_placed(orders: CycleOrders) -> int:
    """Unwind SELLs that reached the book, in all: where a ladder started again counts from."""
    return sum(1 for u in orders.unwinds if u.status != "NOT_PLACED")


def next_trigger(state: str, orders: CycleOrders, cancelling: str | None) -> str | None:
    """The transition the facts call for in `state`, or None. Pure, so every event order is testable.

    Works from facts, not from the last event: a pending SELL seen NEW or FILLED proves the working BUY
    filled even when its own event is late (reordered) or was missed during an outage.
    """
    if state == "unwinding":
        u = orders.unwind
        if u is not None and u.status == FILLED:
            return "unwound"
        return None
    w, p = orders.working, orders.pending
    if w is None or p is None:
        return None
    bought = buy_done(orders)
    if state in ("pending", "partially_filled"):
        if bought:
            return "buy_filled"
        if w.final:
            return "cancelled"
        if state == "pending" and w.cum_qty > 0:
            return "buy_partial"
        return None
    if state == "selling":
        if p.status == FILLED:
            return "sell_filled"
        if p.final:
            return "cancelled"
        return None
    if state == "cancelling":
        if p.status == FILLED:
            return "sell_filled"
        if cancelling == "working" and bought and p.live:
            return "buy_filled"  # the BUY filled before our cancel reached it: sell as planned
        if all(o.final for o in (w, p)):
            return "cancelled"
        return None
    return None
