"""The desk's settle of a lost OTO request: never "missing" from a failed lookup, and bounded when only the working
leg is ever listed (issue 9, problem 9). The exchange is a stand-in returning fixed rows: no event loop tricks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger

from otobot.exchange.errors import ServerError
from otobot.exchange.filters import OtoOrder
from otobot.exchange.models import Order
from otobot.store.db import Store
from otobot.trading.desk import PENDING_LEG_LOOKUPS, SETTLE_LOOKUPS, Desk, Found, Missing, Unknown

D = Decimal
T0 = 1_764_500_000_000


class Clock:
    def time_ms(self) -> int:
        return T0 + 1000

    def monotonic(self) -> float:
        return 0.0


class Exchange:
    """What open orders and history answer: `rows`, or `error` raised instead."""

    def __init__(self, rows: list[Order], error: Exception | None = None) -> None:
        self.rows, self.error = rows, error

    async def open_orders(self, symbol: str | None = None, side: str | None = None) -> list[Order]:
        if self.error is not None:
            raise self.error
        return [o for o in self.rows if not o.is_final]

    async def history_all(self, start_ms: int, end_ms: int, base_asset: str | None = None) -> list[Order]:
        return list(self.rows)


def working_leg(qty: str) -> Order:
    return Order(order_id="901", symbol="ALPHA_22USDT", side="BUY", status="NEW", price=D("48.144"), orig_qty=D(qty),
                 executed_qty=D(0), cum_quote=D(0), order_list_id="77", contingency_position="OTO_WORKING",
                 time_ms=T0 + 5, update_time_ms=T0 + 5)


async def desk_with_intent(tmp_path: Path, exchange: Any) -> tuple[Desk, Any]:
    store = await Store.open(tmp_path / "otobot.db")
    desk = Desk("alice", store, exchange, Clock(), lambda *_: None, logger)
    order = OtoOrder(working_price=D("48.144"), quantity=D("0.4154"), pay_amount=D("19.9990176"),
                     pending_price=D("47.758848"))
    row, _ = await desk.write_oto(day="2025-11-30", symbol="ALPHA_22USDT", base_asset="ALPHA_22", quote="USDT",
                                  mul_point=1, order=order)
    return desk, row


async def test_a_failed_lookup_is_never_missing(tmp_path: Path) -> None:
    desk, row = await desk_with_intent(tmp_path, Exchange([], ServerError("502 Bad Gateway")))
    for _ in range(SETTLE_LOOKUPS + 2):
        assert isinstance(await desk.settle_oto(row), Unknown)
    await desk.store.close()


async def test_missing_only_after_the_lookups_agree(tmp_path: Path) -> None:
    desk, row = await desk_with_intent(tmp_path, Exchange([working_leg("9")]))  # another quantity: not ours
    outcomes = [await desk.settle_oto(row) for _ in range(SETTLE_LOOKUPS)]
    assert [type(o) for o in outcomes] == [Unknown] * (SETTLE_LOOKUPS - 1) + [Missing]
    await desk.store.close()


async def test_a_working_leg_whose_pending_leg_never_shows_is_adopted_alone_after_a_bound(tmp_path: Path) -> None:
    desk, row = await desk_with_intent(tmp_path, Exchange([working_leg("0.4154")]))
    outcomes = [await desk.settle_oto(row) for _ in range(PENDING_LEG_LOOKUPS)]
    assert all(isinstance(o, Unknown) for o in outcomes[:-1])
    last = outcomes[-1]
    assert isinstance(last, Found) and last.order.order_id == "901" and last.pending_id is None
    await desk.store.close()
