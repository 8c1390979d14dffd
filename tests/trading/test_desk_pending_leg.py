"""Issue 19, problem 3: a pending leg not listed yet is unknown (NULL), never '' and never a plain order of the
user's (orderListId "-1"); it is bound once it is listed. Rows are parsed as the client parses the wire, including
open-order rows without orderListId / contingency* (alpha-api.md §2.4)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from otobot.exchange.models import Order
from otobot.trading.desk import PENDING_LEG_LOOKUPS, Found
from otobot.trading.tracker import CycleOrders, TrackedOrder
from tests.trading.test_desk_settle import T0, Exchange, desk_with_intent

D = Decimal


def bare(order_id: str, side: str, price: str, qty: str, t: int, **extra: Any) -> Order:
    """An open-order row as §2.4 lists it: no orderListId, no contingency fields."""
    return Order.parse({"orderId": order_id, "symbol": "ALPHA_22USDT", "side": side, "type": "LIMIT",
                        "status": "NEW", "price": price, "origQty": qty, "executedQty": "0", "cumQuote": "0",
                        "time": t, "updateTime": t, "baseAsset": "ALPHA_22", "quoteAsset": "USDT", **extra})


class OpenOnly(Exchange):
    """Open orders only: the history does not list them yet."""

    async def history_all(self, start_ms: int, end_ms: int, base_asset: str | None = None) -> list[Order]:
        return []


async def test_a_users_plain_sell_at_our_price_is_never_taken_for_the_pending_leg(tmp_path: Path) -> None:
    working = bare("901", "BUY", "48.144", "0.4154", T0 + 5)
    users_sell = bare("555", "SELL", "47.758848", "0.4", T0 + 6, orderListId="-1")  # the user's own LIMIT
    desk, row = await desk_with_intent(tmp_path, OpenOnly([working, users_sell]))
    outcomes = [await desk.settle_oto(row) for _ in range(PENDING_LEG_LOOKUPS)]
    last = outcomes[-1]
    assert isinstance(last, Found) and last.order.order_id == "901"
    assert last.pending_id is None  # unknown, not the user's order 555
    await desk.store.close()


async def test_two_cycles_adopted_without_their_pending_legs_coexist_and_each_leg_is_bound_when_listed(
        tmp_path: Path) -> None:
    rows = [bare("901", "BUY", "48.144", "0.4154", T0 + 5)]
    ex = OpenOnly(rows)
    desk, row = await desk_with_intent(tmp_path, ex)
    await desk.store.attach_oto(row.id, "901", None, "", T0 + 9, adopted=True)
    # A second cycle adopted the same way: no UNIQUE(order_id) failure on '' any more.
    from otobot.exchange.filters import OtoOrder
    order = OtoOrder(working_price=D("48.2"), quantity=D("0.4154"), pay_amount=D("20.02228"),
                     pending_price=D("47.8"))
    row_b, _ = await desk.write_oto(day="2025-11-30", symbol="ALPHA_22USDT", base_asset="ALPHA_22", quote="USDT",
                                    mul_point=1, order=order)
    await desk.store.attach_oto(row_b.id, "902", None, "", T0 + 9, adopted=True)
    # The pending leg is listed later (bare): the next refresh finds it by side, price and time, and binds it.
    ex.rows.append(bare("903", "SELL", "47.758848", "0.41535", T0 + 5))
    orders = CycleOrders(working=TrackedOrder(row_id=1, role="working", order_id="901", side="BUY",
                                              price=D("48.144"), quantity=D("0.4154"), status="NEW"),
                         pending=TrackedOrder(row_id=2, role="pending", order_id=None, side="SELL",
                                              price=D("47.758848"), quantity=D(0), status="PENDING"))
    await desk.refresh(row, orders, "test")
    assert orders.pending is not None and orders.pending.order_id == "903"
    legs = {o.cycle_id: o.order_id for o in [*await desk.store.cycle_orders(row.id),
                                             *await desk.store.cycle_orders(row_b.id)] if o.role == "pending"}
    assert legs == {row.id: "903", row_b.id: None}
    await desk.store.close()
