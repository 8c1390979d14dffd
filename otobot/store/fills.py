"""The idempotent fill record: one execution applied to its order, its day and the ledger of whose coins are whose
once, in the writer's transaction."""

from __future__ import annotations

import sqlite3
from decimal import ROUND_HALF_EVEN, Context, Decimal

from otobot.exchange.filters import FEE_RATE, fmt
from otobot.store.records import AppliedFill, Fill, dec0

# An execution's average price (a quotient, not the exchange's text) stored to 12 significant digits, finer than
# any tick: the exact quotient ran to 28, ~12 bytes a fill on disk for digits no reader uses (issue 24). Amounts
# keep the exchange's exact text, and the day's fees are valued with the exact quotient.
PRICE_DIGITS = Context(prec=12, rounding=ROUND_HALF_EVEN)  # a displayed average: to the nearest, ties to even


def trimmed(d: Decimal) -> str:
    """A value's text without trailing zeros (`0.20730000` → `0.2073`): the execution key, canonical whatever
    padding the WS event or the REST row used, and the order's running totals (Decimal compares them equal)."""
    return fmt(d.normalize()) if d else "0"


def apply_fill(c: sqlite3.Connection, fill: Fill) -> AppliedFill | None:
    """Record `fill` once, keyed (order id, cumulative qty); None when it adds nothing (see Store.apply_fill)."""
    row = c.execute("SELECT o.cum_qty, o.cum_quote, o.cycle_id, o.fee, c.kind, c.symbol, c.base_asset "
                    "FROM orders o JOIN cycles c ON c.id=o.cycle_id WHERE o.order_id=?", (fill.order_id,)).fetchone()
    if row is None:
        return None
    old_qty, old_quote, cycle_id, old_fee = dec0(row[0]), dec0(row[1]), int(row[2]), dec0(row[3])
    own = row[4] != "stray"  # an execution no cycle of otobot's placed is the user's own
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
    add_to_ledger(c, fill.user, row[5], row[6], own, fill.side, qty, commission, price, fill.time_ms)
    if not own:
        # The user's hand trades: shown apart (the exchange counts them toward the user's Alpha volume), never in
        # otobot's volume, cost or loss.
        column = "user_buy_quote" if fill.side == "BUY" else "user_sell_quote"
        was = c.execute(f"SELECT {column} FROM daily_volume WHERE user=? AND day=?", (fill.user, fill.day)).fetchone()
        c.execute(f"INSERT INTO daily_volume(user, day, {column}) VALUES (?,?,?) ON CONFLICT(user, day) DO UPDATE "
                  f"SET {column}=excluded.{column}", (fill.user, fill.day, fmt(dec0(was[0] if was else 0) + quote_qty)))
        return AppliedFill(qty=qty, quote_qty=quote_qty, commission=commission, own=False)
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


def add_to_ledger(c: sqlite3.Connection, user: str, symbol: str, base_asset: str, own: bool, side: str,
                  qty: Decimal, commission: Decimal, price: Decimal, time_ms: int) -> None:
    """One execution's base on the ledger (trading/ledger.py `Ledger.after` is the same rule, to reason on): a BUY
    (its fee paid in base) adds to otobot's own base for its cycles' fills, to the user's for the others'. Any SELL
    takes from otobot's own base first, the rest from the user's: otobot's SELL beyond its own happens only with
    `ctl flatten --all`, and the user's hand SELL of a leftover (the way out of `unwind_failed`) leaves otobot
    nothing to sell again out of the user's coins. Own base never goes below 0."""
    was = c.execute("SELECT own_base, user_base FROM ledger WHERE user=? AND symbol=?", (user, symbol)).fetchone()
    own_base, user_base = (dec0(was[0]), dec0(was[1])) if was else (Decimal(0), Decimal(0))
    change = qty - commission if side == "BUY" else -qty
    if change >= 0:
        if own:
            own_base += change
        else:
            user_base += change
    else:
        taken = min(-change, max(own_base, Decimal(0)))
        own_base -= taken
        user_base -= -change - taken
    c.execute("INSERT INTO ledger(user, symbol, base_asset, own_base, user_base, last_price, updated_ms) "
              "VALUES (?,?,?,?,?,?,?) ON CONFLICT(user, symbol) DO UPDATE SET own_base=excluded.own_base, "
              "user_base=excluded.user_base, last_price=excluded.last_price, updated_ms=excluded.updated_ms",
              (user, symbol, base_asset, fmt(own_base), fmt(user_base), fmt(price), time_ms))


def backfill_ledger(c: sqlite3.Connection) -> None:
    """A database from before the ledger: its otobot base rebuilt once from the fills still kept, in the order
    they were recorded (strays go to the user's side, as they would have)."""
    if c.execute("SELECT value FROM meta WHERE key='ledger_backfilled'").fetchone():
        return
    c.execute("BEGIN IMMEDIATE")
    try:
        if not c.execute("SELECT value FROM meta WHERE key='ledger_backfilled'").fetchone():
            rows = c.execute("SELECT f.user, c.symbol, c.base_asset, c.kind, f.side, f.qty, f.commission, f.price, "
                             "f.time_ms FROM fills f JOIN cycles c ON c.id=f.cycle_id ORDER BY f.id").fetchall()
            for r in rows:
                add_to_ledger(c, r[0], r[1], r[2], r[3] != "stray", r[4], dec0(r[5]), dec0(r[6]), dec0(r[7]),
                              int(r[8]))
            c.execute("INSERT INTO meta(key, value) VALUES('ledger_backfilled', '1')")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
