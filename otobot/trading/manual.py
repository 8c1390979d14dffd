"""The operator's hand on a cycle (ctl cancel / flatten): carried out by the cycle table and desk, then reported."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from otobot.exchange.filters import floor_to, fmt, sellable
from otobot.exchange.models import SELL
from otobot.trading import strategy
from otobot.trading.cycle import State
from otobot.trading.pauses import Pause
from otobot.trading.state import ManualOp
from otobot.trading.tracker import CycleOrders

if TYPE_CHECKING:
    from otobot.trading.driver import Driver

KINDS = ("cancel", "flatten")


async def start(bot: Driver, kind: str, done: asyncio.Future[Any]) -> None:
    """Pause `operator` (no new cycle) and let the table cancel what is live and, for flatten, sweep the base."""
    if kind not in KINDS:
        raise ValueError(f"unknown operation {kind!r}; use cancel or flatten")
    if bot.state.manual is not None:
        raise ValueError(f"a {bot.state.manual.kind} of {bot.name} is already under way; wait for its report")
    bot.state.manual = ManualOp(kind, done, flatten_pending=kind == "flatten")
    if bot.state.cycle_row is None and kind == "cancel":
        bot.state.manual.notes.append("no cycle was live")
    bot.log.info("Operator {}: {}", kind, "cancelling the live cycle and selling what it bought" if kind == "cancel"
                 else "cancelling any live cycle, then selling all free base")
    await bot.hold(Pause.operator, f"ctl {kind} by the operator")


def observe_close(bot: Driver, orders: CycleOrders) -> None:
    """A cycle closed while an operator request is under way: count what it cancelled and sold."""
    op = bot.state.manual
    if op is None:
        return
    op.cancelled += [o.order_id for o in (orders.working, orders.pending)
                     if o is not None and o.order_id and o.status == "CANCELED"]
    op.sold += orders.base_sold()
    op.sold_quote += sum((o.cum_quote for o in orders.all() if o.side == SELL), Decimal(0))
    op.left += max(orders.base_bought() - orders.base_sold(), Decimal(0))


async def flatten(bot: Driver) -> None:
    """Sell every free unit of the token as a sweep cycle: written before sent, settled, down the unwind ladder."""
    op = bot.state.manual
    assert op is not None
    if bot.filters is None or bot.token is None or bot.rest is None:
        op.flatten_pending = False
        op.notes.append("the token is not resolved yet; nothing sold")
        return
    free = next((b.free for b in await bot.rest.alpha_balances() if b.asset == bot.token.alpha_id), Decimal(0))
    op.flatten_pending = False
    qty = floor_to(free, bot.filters.step_size)
    if bot.last_trade is None:
        op.left += free
        op.notes.append("no trade price yet; nothing sold")
        return
    price = bot.last_trade.price
    if not sellable(qty, strategy.unwind_price(price, bot.cfg.unwind.ladder_pct[0]), bot.filters):
        op.left += free
        op.notes.append(f"{fmt(free)} {bot.token.symbol} free is below the minimum order; nothing sold")
        return
    cycle_id = await bot.store.create_sweep(user=bot.name, day=bot.state.book.day, symbol=bot.symbol,
                                            base_asset=bot.token.alpha_id, quote_asset=bot.cfg.quote, quantity=qty,
                                            price=price, now_ms=bot.clock.time_ms())
    row = await bot.store.cycle(cycle_id)
    assert row is not None
    op.left += free - qty  # below one step: no order can carry it
    bot.state.dust = Decimal(0)  # the sweep carries the fee dust too; its close adds back what it could not sell
    await bot.load_cycle(row)
    bot.state.fills_confirmed = True
    bot.log.info("Flattening: selling {} {} free on the exchange down the unwind ladder", fmt(qty), bot.token.symbol)
    await bot.fire("sweep", f"ctl flatten: selling {fmt(qty)} free {bot.token.symbol}", persist=False)


def check_done(bot: Driver) -> None:
    """Answer the operator once the user rests paused with nothing live (or the ladder gave up)."""
    op = bot.state.manual
    if op is None:
        return
    settled = bot.state.cycle_row is None and bot.cycle.state is State.paused and not op.flatten_pending
    stuck = bot.state.paused_reason == Pause.unwind_failed
    if not (settled or stuck or op.done.done()):
        return
    bot.state.manual = None
    if stuck:
        left = bot.state.orders.leftover(bot.filters.step_size) if bot.filters is not None else Decimal(0)
        op.left += left
        op.notes.append(f"the whole unwind ladder was tried; {fmt(left)} unsold (paused unwind_failed)")
    if not op.done.done():
        op.done.set_result(report(bot, op))
    bot.log.info("Operator {} done: {}", op.kind, manual_text(report(bot, op)))


def abandon(bot: Driver, why: str) -> None:
    """The bot stops before the request finished: say so, with what was done until now."""
    op = bot.state.manual
    bot.state.manual = None
    if op is not None and not op.done.done():
        op.notes.append(why)
        op.done.set_result(report(bot, op))


def report(bot: Driver, op: ManualOp) -> dict[str, Any]:
    avg = (op.sold_quote / op.sold).quantize(Decimal("0.00000001"), ROUND_HALF_EVEN) if op.sold else None
    return {
        "user": bot.name, "action": op.kind, "token": bot.token.symbol if bot.token else bot.cfg.token,
        "orders_cancelled": op.cancelled, "sold": fmt(op.sold), "sold_quote": fmt(op.sold_quote),
        "avg_price": fmt(avg) if avg is not None else None, "left": fmt(op.left), "quote": bot.cfg.quote,
        "state": str(bot.cycle.state), "paused": bot.state.paused_reason, "notes": op.notes,
    }


def manual_text(r: dict[str, Any]) -> str:
    """The report as one paragraph (ctl's text output, Telegram's reply, the log)."""
    cancelled = ", ".join(r.get("orders_cancelled") or []) or "none"
    avg = f" at {r['avg_price']} on average" if r.get("avg_price") else ""
    text = (f"{r.get('user')}: {r.get('action')} done. Orders cancelled: {cancelled}. Sold {r.get('sold')} "
            f"{r.get('token')} for {r.get('sold_quote')} {r.get('quote')}{avg}. Left: {r.get('left')} "
            f"{r.get('token')}. Now {r.get('state')}, paused {r.get('paused') or 'no'}.")
    notes = r.get("notes") or []
    return text + (" " + "; ".join(notes) + "." if notes else "")
