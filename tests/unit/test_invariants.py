"""The crash-safety check names the orders SQLite never heard of, so a soak's finding can be looked up in the log."""

from __future__ import annotations

from decimal import Decimal

from otobot.bench import invariants


def _row(order_id: str, side: str, executed: str, list_id: str = "-1") -> dict[str, object]:
    return {"orderId": order_id, "side": side, "status": "FILLED", "time": 1000, "updateTime": 1001,
            "orderListId": list_id, "executedQty": executed}


def test_untracked_orders_are_counted_and_the_first_few_described() -> None:
    orders = [_row("11", "BUY", "1", "L1"), _row("12", "SELL", "1", "L1"),
              *(_row(str(100 + i), "SELL", "0") for i in range(invariants.UNTRACKED_SHOWN + 2))]
    fills = [{"exec_key": "11:1", "order_id": "11", "qty": "1", "commission": "0", "side": "BUY"},
             {"exec_key": "12:1", "order_id": "12", "qty": "1", "commission": "0", "side": "SELL"}]
    inv = invariants.check(orders, Decimal(0), fills, claimed={"11"})
    assert inv.untracked_orders == invariants.UNTRACKED_SHOWN + 3 and not inv.ok
    assert len(inv.untracked_rows) == invariants.UNTRACKED_SHOWN
    assert inv.untracked_rows[0] == {"orderId": "12", "side": "SELL", "status": "FILLED", "time": 1000,
                                     "updateTime": 1001, "orderListId": "L1", "executedQty": "1"}
    assert inv.as_dict()["untracked_rows"][0]["orderId"] == "12"
    clean = invariants.check(orders[:2], Decimal(0), fills, claimed={"11", "12"})
    assert clean.ok and clean.untracked_rows == ()
