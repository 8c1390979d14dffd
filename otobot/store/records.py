"""The rows the store hands out (cycles, orders, fills, day and user totals) as frozen typed values."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

LIVE_CYCLE_STATES = ("placing", "reconciling", "pending", "partially_filled", "selling", "cancelling",
                     "cancelled", "unwinding")
# The same as SQL literals: the partial index cycles_live serves only a query that names them (not ? parameters).
LIVE_STATES_SQL = ", ".join(f"'{state}'" for state in LIVE_CYCLE_STATES)


@dataclass(frozen=True, slots=True)
class CycleRow:
    id: int
    user: str
    day: str
    symbol: str
    base_asset: str
    quote_asset: str
    mul_point: int
    state: str
    reason: str | None
    working_price: Decimal
    pending_price: Decimal
    quantity: Decimal
    pay_amount: Decimal
    intent_ms: int
    placed_ms: int | None
    closed_ms: int | None
    order_list_id: str | None
    kind: str = "oto"  # oto | sweep | stray
    ladder_from: int = 0  # unwind SELLs before the ladder last started again from its first rung (issue 19)


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    user: str
    cycle_id: int
    role: str
    order_id: str | None
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    status: str
    cum_qty: Decimal
    cum_quote: Decimal
    fee: Decimal
    fee_asset: str
    intent_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution to record: `cum_qty`/`cum_quote` are the order's totals after it."""

    user: str
    cycle_id: int | None  # None: taken from the order's row (a late event of an earlier cycle)
    order_id: str
    side: str
    price: Decimal
    cum_qty: Decimal
    cum_quote: Decimal
    last_qty: Decimal  # this event's own qty; its commission is exact only when it equals the recorded delta
    commission: Decimal
    commission_asset: str
    time_ms: int
    day: str
    source: str
    status: str | None = None  # the order's merged status after this fill, written in the same transaction
    quantity: Decimal | None = None  # a pending leg's activated quantity, likewise


@dataclass(frozen=True, slots=True)
class AppliedFill:
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    own: bool = True  # False: an execution of the user's own (a stray): not otobot's volume, cost or inventory


@dataclass(frozen=True, slots=True)
class DayVolume:
    buy_quote: Decimal = Decimal(0)
    sell_quote: Decimal = Decimal(0)
    fees_quote: Decimal = Decimal(0)
    cycles: int = 0


@dataclass(frozen=True, slots=True)
class UserStats:
    user: str
    cycles: int
    buy_quote: Decimal
    sell_quote: Decimal
    fees_quote: Decimal
    sell_fees_quote: Decimal
    user_buy_quote: Decimal = Decimal(0)  # the user's own orders (issue 19): shown apart, never otobot's cost

    @property
    def loss_quote(self) -> Decimal:
        """Quote paid for buys less quote kept from sells. Buy fees are in it already: they shrink what
        the sells carry; base still held (an unfinished cycle, dust) counts as lost until sold."""
        return self.buy_quote - self.sell_quote + self.sell_fees_quote

    @property
    def loss_bps(self) -> Decimal:
        return self.loss_quote / self.buy_quote * 10000 if self.buy_quote else Decimal(0)


def dec0(v: Any) -> Decimal:
    return Decimal(v) if v is not None else Decimal(0)


def cycle_row(row: sqlite3.Row) -> CycleRow:
    return CycleRow(
        id=row["id"], user=row["user"], day=row["day"], symbol=row["symbol"], base_asset=row["base_asset"],
        quote_asset=row["quote_asset"], mul_point=row["mul_point"], state=row["state"], reason=row["reason"],
        working_price=dec0(row["working_price"]), pending_price=dec0(row["pending_price"]),
        quantity=dec0(row["quantity"]), pay_amount=dec0(row["pay_amount"]), intent_ms=row["intent_ms"],
        placed_ms=row["placed_ms"], closed_ms=row["closed_ms"], order_list_id=row["order_list_id"],
        kind=row["kind"], ladder_from=row["ladder_from"],
    )


def order_row(row: sqlite3.Row) -> OrderRow:
    return OrderRow(
        id=row["id"], user=row["user"], cycle_id=row["cycle_id"], role=row["role"], order_id=row["order_id"],
        symbol=row["symbol"], side=row["side"], price=dec0(row["price"]), quantity=dec0(row["quantity"]),
        status=row["status"], cum_qty=dec0(row["cum_qty"]), cum_quote=dec0(row["cum_quote"]), fee=dec0(row["fee"]),
        fee_asset=row["fee_asset"], intent_ms=row["intent_ms"], updated_ms=row["updated_ms"],
    )


@dataclass(frozen=True, slots=True)
class Holding:
    """Base otobot's own fills say a user holds on a symbol (fee dust, an unfinished cycle) and its last price."""

    symbol: str
    base_asset: str
    quantity: Decimal
    last_price: Decimal

    @property
    def value(self) -> Decimal:
        return self.quantity * self.last_price
