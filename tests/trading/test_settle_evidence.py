"""Issue 19, problem 5: user-stream events seen while a lost place request is settled are evidence. When history
lags past both lookups the OTO is still adopted (not closed "not placed" with its round trip's fills never
recorded)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from otobot.exchange.models import ExecutionReport
from otobot.trading.desk import SETTLE_LOOKUPS, Found, Missing
from tests.trading.test_desk_settle import T0, Exchange, desk_with_intent

D = Decimal


def event(order_id: str, side: str, price: str, status: str, cum: str, position: str, t: int) -> ExecutionReport:
    qty = D(cum)
    return ExecutionReport(event_id=f"e{order_id}{status}", symbol="ALPHA_22USDT", order_id=order_id,
                           order_list_id="77", side=side, exec_type="TRADE" if qty else "NEW", status=status,
                           price=D(price), orig_qty=D("0.4154") if side == "BUY" else D("0.41535"), last_qty=qty,
                           cum_qty=qty, last_price=D(price), cum_quote=qty * D(price), last_quote=qty * D(price),
                           commission=D(0), commission_asset="", trade_id="1", contingency_position=position,
                           event_time_ms=t, transact_time_ms=t)


async def test_events_seen_while_settling_adopt_the_oto_when_the_lookups_lag(tmp_path: Path) -> None:
    desk, row = await desk_with_intent(tmp_path, Exchange([]))  # open orders and history: nothing yet
    evidence = [event("901", "BUY", "48.144", "NEW", "0", "OTO_WORKING", T0 + 5),
                event("902", "SELL", "47.758848", "PENDING", "0", "OTO_PENDING", T0 + 5),
                event("901", "BUY", "48.144", "FILLED", "0.4154", "OTO_WORKING", T0 + 40)]
    outcomes = [await desk.settle_oto(row, evidence) for _ in range(SETTLE_LOOKUPS)]
    last = outcomes[-1]
    assert isinstance(outcomes[0], Found) and isinstance(last, Found), outcomes
    assert (last.order.order_id, last.pending_id, last.order.executed_qty) == ("901", "902", D("0.4154"))
    # Without the events the same lookups close it as never placed: the evidence is what made the difference.
    plain = [await desk.settle_oto(row) for _ in range(SETTLE_LOOKUPS)]
    assert isinstance(plain[-1], Missing)
    await desk.store.close()
