"""The idempotent fill record: one execution applied to its order and its day once, in the writer's transaction."""

from __future__ import annotations

import sqlite3
from decimal import Context, Decimal

from otobot.exchange.filters import FEE_RATE, fmt
from otobot.store.records import AppliedFill, Fill, dec0

# An execution's average price (a quotient, not the exchange's text) stored to 12 significant digits, finer than
# any tick: the exact quotient ran to 28, ~12 bytes a fill on disk for digits no reader uses (issue 24). Amounts
# keep the exchange's exact text, and the day's fees are valued with the exact quotient.
PRICE_DIGITS = Context(prec=12)


def trimmed(d: Decimal) -> str:
    """A value's text without trailing zeros (`0.20730000` → `0.2073`): the execution key, canonical whatever
    padding the WS event or the REST row used, and the order's running totals (Decimal compares them equal)."""
    return fmt(d.normalize()) if d else "0"


def apply_fill(c: sqlite3.Connection, fill: Fill) -> AppliedFill | None:
    """Record `fill` once, keyed (order id, cumulative qty); None when it adds nothing (see Store.apply_fill)."""
    row = c.execute("SELECT cum_qty, cum_quote, cycle_id, fee FROM orders WHERE order_id=?",
                    (fill.order_id,)).fetchone()
    if row is None:
        return None
    old_qty, old_quote, cycle_id, old_fee = dec0(row[0]), dec0(row[1]), int(row[2]), dec0(row[3])
    if fill.cum_qty <= old_qty:
        return None
    qty = fill.cum_qty - old_qty
    quote_qty = max(fill.cum_quote - old_quote, Decimal(0))
    price = quote_qty / qty if qty else fill.price
    commission = fill.commission if qty == fill.last_qty else Decimal(0)
    if commission == 0:
        # Missed or reordered events and REST backfills carry no commission: use the measured rate.
        commission = qty * FEE_RATE if fill.side == "BUY" else quote_qty * FEE_RATE
    cur = c.execute(
        "INSERT OR IGNORE INTO fills(user, cycle_id, order_id, exec_key, side, price, qty, quote_qty,"
        " commission, commission_asset, time_ms, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (fill.user, cycle_id, fill.order_id, f"{fill.order_id}:{trimmed(fill.cum_qty)}", fill.side,
         fmt(PRICE_DIGITS.plus(price)), fmt(qty), fmt(quote_qty), fmt(commission), fill.commission_asset,
         fill.time_ms, fill.source))
    if cur.rowcount == 0:
        return None
    fee_quote = commission if fill.side == "SELL" else commission * price
    # A REST backfill carries no commission asset: keep the one recorded (the bot's memory does the same).
    c.execute(
        "UPDATE orders SET cum_qty=?, cum_quote=?, fee=?, fee_asset=COALESCE(NULLIF(?, ''), fee_asset), "
        "status=COALESCE(?, status), "
        "quantity=COALESCE(?, quantity), updated_ms=? WHERE order_id=?",
        (trimmed(fill.cum_qty), trimmed(max(fill.cum_quote, old_quote)), trimmed(commission + old_fee),
         fill.commission_asset,
         fill.status, fmt(fill.quantity) if fill.quantity is not None else None, fill.time_ms, fill.order_id))
    dv = c.execute("SELECT buy_quote, sell_quote, fees_quote, sell_fees_quote FROM daily_volume WHERE user=? AND day=?",
                   (fill.user, fill.day)).fetchone()
    buy, sell, fees, sell_fees = (dec0(dv[0]), dec0(dv[1]), dec0(dv[2]), dec0(dv[3])) if dv else (Decimal(0),) * 4
    if fill.side == "BUY":
        buy += quote_qty
    else:
        sell += quote_qty
        sell_fees += fee_quote
    fees += fee_quote
    c.execute(
        "INSERT INTO daily_volume(user, day, buy_quote, sell_quote, fees_quote, sell_fees_quote) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT(user, day) DO UPDATE SET buy_quote=excluded.buy_quote, "
        "sell_quote=excluded.sell_quote, fees_quote=excluded.fees_quote, sell_fees_quote=excluded.sell_fees_quote",
        (fill.user, fill.day, fmt(buy), fmt(sell), fmt(fees), fmt(sell_fees)))
    return AppliedFill(qty=qty, quote_qty=quote_qty, commission=commission)
