"""Order I/O for one user: place (write before send), cancel, settle lost requests, record fills exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from otobot.exchange.errors import ExchangeError, OrderNotFound, UnknownOutcome
from otobot.exchange.filters import LimitOrder, OtoOrder, fmt
from otobot.exchange.models import SELL, ExecutionReport, Order, OtoPlaced
from otobot.exchange.rest import AlphaRest
from otobot.store.carry import Carry
from otobot.store.db import Store
from otobot.store.records import CycleRow, Fill, OrderRow
from otobot.trading.daybook import utc_day
from otobot.trading.ports import Clock
from otobot.trading.reconcile import CLOCK_SKEW_MS, latest_by_id, match_limit, match_oto
from otobot.trading.tracker import CycleOrders, TrackedOrder, merge_status

SETTLE_LOOKUPS = 2  # "not found" must hold on this many lookups, settle_s apart, before we believe it
PENDING_LEG_LOOKUPS = 5  # the working leg is found but its pending leg is not listed: adopt it alone after this


# ------------------------------------------------------------------ outcomes of a settle
@dataclass(frozen=True, slots=True)
class Found:
    order: Order
    pending_id: str | None = None
    pending: Order | None = None


@dataclass(frozen=True, slots=True)
class Missing:
    """Not on the exchange after SETTLE_LOOKUPS lookups: the request was never applied."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """Cannot tell yet (a lookup failed, or one miss only): look again after settle_s."""

    why: str


Settled = Found | Missing | Unknown


class Observation(NamedTuple):
    """One view of an order, from a stream event or a REST row, normalised for `record`. A NamedTuple: built for
    every report, and a frozen dataclass pays a setattr call per field."""

    status: str
    cum_qty: Decimal
    cum_quote: Decimal
    orig_qty: Decimal
    last_price: Decimal
    last_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    source: str  # ws | rest

    @classmethod
    def of_event(cls, r: ExecutionReport, now_ms: int) -> Observation:
        return cls(r.status, r.cum_qty, r.cum_quote, r.orig_qty, r.last_price, r.last_qty, r.commission,
                   r.commission_asset, r.transact_time_ms or now_ms, "ws")

    @classmethod
    def of_row(cls, row: Order, now_ms: int) -> Observation:
        return cls(row.status, row.executed_qty, row.cum_quote, row.orig_qty, row.price, Decimal(0), Decimal(0), "",
                   row.update_time_ms or now_ms, "rest")


OnFill = Callable[[str, Decimal, int], None]  # (side, quote added, time ms): the day book and metrics


class Desk:
    """Every order request and fill record of one user goes through here; the cycle's symbol is always the one
    its row says (a token changed in the file meanwhile does not move an old cycle's cancels and lookups)."""

    def __init__(self, user: str, store: Store, rest: AlphaRest, clock: Clock, on_fill: OnFill, log: Any,
                 carry: Carry | None = None) -> None:
        self.user = user
        self.carry = carry if carry is not None else Carry()  # the bot's deferred statements ride our writes
        self.store = store
        self.rest = rest
        self.clock = clock
        self.on_fill = on_fill
        self.log = log
        self.misses = 0  # consecutive "not found" lookups of the request being settled
        self.pending_misses = 0

    # ------------------------------------------------------------ placing (write before send, never retried)

    async def write_oto(self, *, day: str, symbol: str, base_asset: str, quote: str, mul_point: int,
                        order: OtoOrder) -> tuple[CycleRow, CycleOrders]:
        """The OTO intent, committed before any request can create it."""
        now_ms = self.clock.time_ms()
        cycle_id, working_row, pending_row = await self.store.create_cycle(
            user=self.user, day=day, symbol=symbol, base_asset=base_asset, quote_asset=quote, mul_point=mul_point,
            working_price=order.working_price, pending_price=order.pending_price, quantity=order.quantity,
            pay_amount=order.pay_amount, now_ms=now_ms, carry=self.carry)
        row = CycleRow(id=cycle_id, user=self.user, day=day, symbol=symbol, base_asset=base_asset,
                       quote_asset=quote, mul_point=mul_point, state="placing", reason=None,
                       working_price=order.working_price, pending_price=order.pending_price,
                       quantity=order.quantity, pay_amount=order.pay_amount, intent_ms=now_ms, placed_ms=None,
                       closed_ms=None, order_list_id=None)
        orders = CycleOrders(
            working=TrackedOrder(row_id=working_row, role="working", order_id=None, side="BUY",
                                 price=order.working_price, quantity=order.quantity, status="INTENT", intent_ms=now_ms),
            pending=TrackedOrder(row_id=pending_row, role="pending", order_id=None, side=SELL,
                                 price=order.pending_price, quantity=Decimal(0), status="INTENT", intent_ms=now_ms))
        return row, orders

    async def send_oto(self, row: CycleRow, order: OtoOrder) -> OtoPlaced:
        """POST the OTO once. UnknownOutcome: settle before anything else; other ExchangeError: nothing exists."""
        return await self.rest.place_oto(row.base_asset, row.quote_asset, order)

    async def drop(self, orders: list[TrackedOrder], why: str) -> None:
        for o in orders:
            await self.store.drop_intent(o.row_id, why, self.clock.time_ms(), carry=self.carry)
            o.status = "NOT_PLACED"

    async def place_sell(self, row: CycleRow, orders: CycleOrders, order: LimitOrder) -> TrackedOrder:
        """An unwind (or sweep) LIMIT SELL: its intent row first, then one POST. Raises what the POST raised,
        with the tracked order left as INTENT (unknown outcome) or NOT_PLACED (refused)."""
        now_ms = self.clock.time_ms()
        row_id = await self.store.add_order_intent(user=self.user, cycle_id=row.id, role="unwind", symbol=row.symbol,
                                                   side=SELL, price=order.price, quantity=order.quantity,
                                                   now_ms=now_ms, carry=self.carry)
        tracked = TrackedOrder(row_id=row_id, role="unwind", order_id=None, side=SELL, price=order.price,
                               quantity=order.quantity, status="INTENT", intent_ms=now_ms)
        orders.unwinds.append(tracked)
        try:
            order_id = await self.rest.place_limit(row.base_asset, row.quote_asset, order)
        except UnknownOutcome:
            raise
        except ExchangeError as exc:
            await self.drop([tracked], str(exc))
            raise
        await self.store.attach_order(row_id, order_id, self.clock.time_ms(), carry=self.carry)
        tracked.order_id = order_id
        tracked.status = merge_status(tracked.status, "NEW")
        return tracked

    # ------------------------------------------------------------ cancelling

    async def cancel(self, row: CycleRow, orders: CycleOrders, o: TrackedOrder) -> None:
        """Ask the exchange to cancel `o` on its cycle's symbol. Gone already: REST tells what became of it."""
        if o.order_id is None or not o.live:
            return
        # The carried state change (`cancelling`, and which leg) is on disk before the request, so a restart after
        # it finds the cycle cancelling that leg, as the column was added for. Cancels are rare: this costs nothing.
        await self.store.flush(self.carry)
        try:
            await self.rest.cancel(row.symbol, o.order_id)
        except OrderNotFound:
            await self.refresh(row, orders, f"cancel of {o.order_id}: not open any more")

    # ------------------------------------------------------------ looking things up

    async def snapshot(self, row: CycleRow, since_ms: int) -> dict[str, Order]:
        """Every order of ours on the cycle's symbol since `since_ms`: open ones and history, newest row per id."""
        open_orders = await self.rest.open_orders(row.symbol)
        history = await self.rest.history_all(since_ms - CLOCK_SKEW_MS, self.clock.time_ms() + CLOCK_SKEW_MS,
                                              row.base_asset)
        return latest_by_id([*history, *open_orders])

    async def refresh(self, row: CycleRow, orders: CycleOrders, why: str) -> dict[str, Order]:
        snap = await self.snapshot(row, row.intent_ms)
        for o in orders.all():
            if o.order_id is not None and o.order_id in snap:
                await self.record(row.id, o, Observation.of_row(snap[o.order_id], self.clock.time_ms()))
        self.log.debug("Refreshed the cycle's orders over REST ({})", why)
        return snap

    def _miss(self) -> Settled:
        self.misses += 1
        if self.misses < SETTLE_LOOKUPS:
            return Unknown(f"not found on lookup {self.misses} of {SETTLE_LOOKUPS}")
        self.misses = 0
        return Missing()

    async def settle_oto(self, row: CycleRow) -> Settled:
        """Did the lost OTO request create it? Never "missing" from a failed lookup."""
        try:
            snap = await self.snapshot(row, row.intent_ms)
        except ExchangeError as exc:
            return Unknown(f"lookup failed: {exc}")
        claimed = await self.store.claimed_order_ids(snap)
        found = match_oto(symbol=row.symbol, working_price=row.working_price, quantity=row.quantity,
                          intent_ms=row.intent_ms, orders=snap.values(), claimed=claimed)
        if found is None:
            return self._miss()
        self.misses = 0
        working, pending = found
        pending_id = pending.order_id if pending is not None else next(
            (o.order_id for o in snap.values() if o.order_list_id == working.order_list_id
             and o.order_id != working.order_id), None)
        if pending_id is None:
            self.pending_misses += 1
            if self.pending_misses < PENDING_LEG_LOOKUPS:
                return Unknown(f"found working order {working.order_id} but not its pending leg yet")
            self.log.warning("Pending leg of working order {} still not listed after {} lookups; adopting the "
                             "working leg alone (its pending leg joins by order-list id)", working.order_id,
                             self.pending_misses)
        self.pending_misses = 0
        return Found(working, pending_id, pending)

    async def settle_sell(self, row: CycleRow, u: TrackedOrder) -> Settled:
        try:
            snap = await self.snapshot(row, u.intent_ms)
        except ExchangeError as exc:
            return Unknown(f"lookup failed: {exc}")
        claimed = await self.store.claimed_order_ids(snap)
        found = match_limit(symbol=row.symbol, side=SELL, price=u.price, quantity=u.quantity, intent_ms=u.intent_ms,
                            orders=snap.values(), claimed=claimed)
        if found is None:
            return self._miss()
        self.misses = 0
        await self.store.attach_order(u.row_id, found.order_id, self.clock.time_ms(), carry=self.carry)
        u.order_id, u.status = found.order_id, "NEW"
        await self.store.audit(self.clock.time_ms(), self.user, "adopt", f"adopted unwind SELL {found.order_id}",
                               cycle_id=row.id)
        await self.record(row.id, u, Observation.of_row(found, self.clock.time_ms()))
        return Found(found)

    # ------------------------------------------------------------ fills (idempotent)

    def _fill(self, cycle_id: int | None, order_id: str, side: str, ob: Observation, status: str | None,
              quantity: Decimal | None) -> Fill:
        return Fill(user=self.user, cycle_id=cycle_id, order_id=order_id, side=side, price=ob.last_price,
                    cum_qty=ob.cum_qty, cum_quote=ob.cum_quote, last_qty=ob.last_qty, commission=ob.commission,
                    commission_asset=ob.commission_asset, time_ms=ob.time_ms, day=utc_day(ob.time_ms),
                    source=ob.source, status=status, quantity=quantity)

    async def record(self, cycle_id: int | None, o: TrackedOrder, ob: Observation) -> bool:
        """Merge one observation of a tracked order. Returns True if it added a fill."""
        assert o.order_id is not None
        new_status = merge_status(o.status, ob.status)
        new_qty = ob.orig_qty if o.role == "pending" and ob.orig_qty > 0 and ob.orig_qty != o.quantity else None
        added = False
        if ob.cum_qty > o.cum_qty:
            applied = await self.store.apply_fill(self._fill(cycle_id, o.order_id, o.side, ob, new_status, new_qty),
                                                  carry=self.carry)
            if applied is not None:
                added = True
                o.cum_qty = ob.cum_qty
                o.cum_quote = max(ob.cum_quote, o.cum_quote)
                o.fee += applied.commission
                o.fee_asset = ob.commission_asset or o.fee_asset
                self.on_fill(o.side, applied.quote_qty, ob.time_ms)
                if ob.source == "rest":
                    self.log.info("Backfilled a fill missed on the stream: order {} +{} (now {})", o.order_id,
                                  fmt(applied.qty), fmt(ob.cum_qty))
        elif new_status != o.status or new_qty is not None:
            # A status without a fill: memory acts on it, SQLite only keeps it, so it rides in the next write.
            self.carry.add(*self.store.order_status_stmts(o.order_id, new_status, self.clock.time_ms(), new_qty))
        o.status = new_status
        if new_qty is not None:
            o.quantity = new_qty
        return added

    async def record_known(self, r: ExecutionReport) -> bool:
        """An event of an order SQLite knows but no cycle in memory holds (an earlier cycle's late fill): counted
        once for accounting. False when SQLite has never heard of the order."""
        if not await self.store.claimed_order_ids([r.order_id]):
            return False
        if r.cum_qty > 0:
            ob = Observation.of_event(r, self.clock.time_ms())
            applied = await self.store.apply_fill(self._fill(None, r.order_id, r.side, ob, r.status, None),
                                                  carry=self.carry)
            if applied is not None:
                self.on_fill(r.side, applied.quote_qty, ob.time_ms)  # today's volume counts it too
        return True


def tracked(r: OrderRow) -> TrackedOrder:
    return TrackedOrder(row_id=r.id, role=r.role, order_id=r.order_id, side=r.side, price=r.price,
                        quantity=r.quantity, status=r.status, cum_qty=r.cum_qty, cum_quote=r.cum_quote, fee=r.fee,
                        fee_asset=r.fee_asset, intent_ms=r.intent_ms)


def load_orders(rows: list[OrderRow], base_in: Decimal = Decimal(0)) -> CycleOrders:
    orders = CycleOrders(base_in=base_in)
    for r in rows:
        t = tracked(r)
        if r.role == "working":
            orders.working = t
        elif r.role == "pending":
            orders.pending = t
        elif r.role == "unwind":
            orders.unwinds.append(t)
    return orders
