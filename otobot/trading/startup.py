"""A bot's start and stop: memory rebuilt from SQLite, the market resolved, and the graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING

from otobot.exchange.errors import ExchangeError
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.store.records import CycleRow
from otobot.trading import autotoken, catalog, manual, pauses
from otobot.trading.cycle import State
from otobot.trading.desk import load_orders
from otobot.trading.pauses import Pause
from otobot.trading.tracker import CycleOrders

if TYPE_CHECKING:
    from otobot.trading.driver import Driver


STOP_SETTLE_S = 4.0  # reading a cancelling cycle's fills at stop; with the 3 s cancel, under the 8 s stop grace


class BotProblem(Exception):
    """Something about this user's setup that trading cannot work around: pauses the user with `reason`."""

    def __init__(self, reason: Pause, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def restore(bot: Driver) -> State:
    """Rebuild memory from SQLite: the pause, today's volume, and the cycle a crash left in flight. Returns the
    state the machine starts in."""
    bot.state.book.roll(bot.clock.time_ms())
    day = await bot.store.day_volume(bot.name, bot.state.book.day)
    reason = await bot.store.pause_reason(bot.name)
    if reason in pauses.CHECKED_AT_START:
        await bot.store.set_pause(bot.name, None, bot.clock.time_ms())
        bot.log.info("Clearing the stored pause {!r} at start; it is checked again", reason)
        reason = None  # the operator's (or an unsold unwind's) is kept until `otobot ctl resume`
    row = await bot.store.live_cycle(bot.name)
    if row is not None:
        await bot.load_cycle(row)
        bot.log.info("Resuming cycle {} in state {} on {} (intent at {} ms); reconciling before acting", row.id,
                     row.state, row.symbol, row.intent_ms)
    return bot.state.restored(day.buy_quote, day.cycles, reason, row)


async def read_cycle(store: Store, row: CycleRow) -> tuple[CycleOrders, str | None]:
    """A cycle's orders and the leg it cancels, as SQLite holds them."""
    base_in = row.quantity if row.kind == "sweep" else Decimal(0)
    return load_orders(await store.cycle_orders(row.id), base_in), await store.cycle_cancelling(row.id)


async def bootstrap(bot: Driver) -> None:
    """Resolve the market (cache first): a cycle in flight keeps ITS symbol until it is over."""
    assert bot.rest is not None
    row = bot.state.cycle_row
    try:
        if row is not None:
            market = await catalog.resolve(bot.store, bot.rest, bot.cfg, bot.clock.time_ms(),
                                           token_alias=row.base_asset, quote=row.quote_asset,
                                           require_tradable=False)
        else:
            market = await catalog.resolve(bot.store, bot.rest, bot.cfg, bot.clock.time_ms(),
                                           token_alias=await autotoken.alias(bot))
    except catalog.CatalogProblem as exc:
        raise BotProblem(Pause.config, pauses.help_text(Pause.config, bot.name, detail=str(exc),
                                                        path=str(bot.cfg.path))) from None
    use_market(bot, market)
    wanted = bot.state.auto.token if bot.state.auto else bot.cfg.token
    same_token = wanted.upper() in (market.token.alpha_id.upper(), market.token.symbol.upper())
    if row is not None and not (same_token and row.quote_asset == bot.cfg.quote):
        bot.state.next_cfg = bot.cfg  # the configured token takes over once the old symbol's cycle is over
        bot.state.switch_market = True
    held = next((h.quantity for h in await bot.store.holdings(bot.name) if h.symbol == bot.symbol), Decimal(0))
    bot.state.held_between_cycles(held)
    bot.log.info("Trading {} ({}) on {}: target {} {} bought today ({} so far), {} {} per cycle",
                  market.token.symbol, market.token.alpha_id, market.symbol, fmt(bot.state.book.target),
                  bot.cfg.quote, fmt(bot.state.book.volume), fmt(bot.cfg.order_quote_amount), bot.cfg.quote)

def use_market(bot: Driver, market: catalog.Market) -> None:
    bot.token, bot.symbol, bot.filters = market.token, market.symbol, market.filters
    bot.state.book.set_target(bot.cfg.target.kind, bot.cfg.target.value, market.token.mul_point)

async def shutdown(bot: Driver) -> None:
    """Stop placing; cancel a working BUY that has not filled and settle the cancel (fills read over REST);
    leave a live SELL to finish on the book."""
    try:
        if bot.cycle.state in (State.pending, State.partially_filled) and bot.state.cycle_row is not None:
            bot.state.cancelling = "working"
            await bot.fire("buy_timeout", "shutting down: cancelling the unfilled BUY")
            w = bot.state.orders.working
            if w is not None and bot.desk is not None:
                with contextlib.suppress(TimeoutError, ExchangeError):
                    async with asyncio.timeout(3.0):
                        await bot.desk.cancel(bot.state.cycle_row, bot.state.orders, w)
                        bot.log.info("Cancelled the unfilled BUY {} before stopping", w.order_id)
        if bot.cycle.state is State.cancelling and bot.state.cycle_row is not None and bot.desk is not None:
            # A fill that raced the cancel may never arrive on the stream now: read the cycle's orders over REST
            # so it is recorded before exiting (bounded: the supervisor's stop grace is 8 s in all).
            with contextlib.suppress(TimeoutError, ExchangeError):
                async with asyncio.timeout(STOP_SETTLE_S):
                    await bot.desk.refresh(bot.state.cycle_row, bot.state.orders, "stopping: settling the cancel")
        await bot.flush_writes()
        bot.log.info("Stopped in state {}", bot.cycle.state)
    finally:
        manual.abandon(bot, "the bot stopped before it finished")
