"""A bot's start and stop: memory rebuilt from SQLite, the market resolved, and the graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING

from loguru import logger

from otobot.exchange.errors import ExchangeError
from otobot.exchange.filters import fmt
from otobot.store.records import CycleRow
from otobot.trading import autotoken, catalog, manual, pauses
from otobot.trading.cycle import State, attach
from otobot.trading.desk import load_orders
from otobot.trading.pauses import Pause

if TYPE_CHECKING:
    from otobot.trading.bot import Bot


STOP_SETTLE_S = 4.0  # reading a cancelling cycle's fills at stop; with the 3 s cancel, under the 8 s stop grace


class BotProblem(Exception):
    """Something about this user's setup that trading cannot work around: pauses the user with `reason`."""

    def __init__(self, reason: Pause, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def restore(bot: Bot) -> None:
    """Rebuild memory from SQLite: the pause, today's volume, and the cycle a crash left in flight."""
    bot.book.roll(bot.clock.time_ms())
    day = await bot.store.day_volume(bot.name, bot.book.day)
    bot.book.volume, bot.book.cycles = day.buy_quote, day.cycles
    reason = await bot.store.pause_reason(bot.name)
    if reason in pauses.CHECKED_AT_START:
        await bot.store.set_pause(bot.name, None, bot.clock.time_ms())
        bot.log.info("Clearing the stored pause {!r} at start; it is checked again", reason)
    elif reason is not None:
        bot.paused_reason = reason  # the operator's (or an unsold unwind's): kept until `otobot ctl resume`
    row = await bot.store.live_cycle(bot.name)
    state = State.idle
    if row is not None:
        await load_cycle(bot, row)
        state = State(row.state)
        bot.log.info("Resuming cycle {} in state {} on {} (intent at {} ms); reconciling before acting", row.id,
                      row.state, row.symbol, row.intent_ms)
    elif bot.paused_reason is not None:
        state = State.paused
    attach(bot.machine, bot.cycle, state)
    bot._attached = True
    bot._entered(state, restored=True)

async def load_cycle(bot: Bot, row: CycleRow) -> None:
    await bot.flush_writes()  # the last cycle's deferred changes land before this one's rows are read
    bot.cycle_row = row
    bot.log = logger.bind(user=bot.name, cycle=row.id)
    base_in = row.quantity if row.kind == "sweep" else Decimal(0)
    bot.orders = load_orders(await bot.store.cycle_orders(row.id), base_in)
    bot._cancelling = await bot.store.cycle_cancelling(row.id)
    bot._fills_confirmed = False
    if bot.desk is not None:
        bot.desk.log = bot.log

async def bootstrap(bot: Bot) -> None:
    """Resolve the market (cache first): a cycle in flight keeps ITS symbol until it is over."""
    assert bot.rest is not None
    row = bot.cycle_row
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
    wanted = bot.auto.token if bot.auto else bot.cfg.token
    same_token = wanted.upper() in (market.token.alpha_id.upper(), market.token.symbol.upper())
    if row is not None and not (same_token and row.quote_asset == bot.cfg.quote):
        bot._next_cfg = bot.cfg  # the configured token takes over once the old symbol's cycle is over
        bot._switch_market = True
    held = next((h.quantity for h in await bot.store.holdings(bot.name) if h.symbol == bot.symbol), Decimal(0))
    in_cycle = bot.orders.base_bought() - bot.orders.base_sold() if row is not None else Decimal(0)
    bot._dust = max(held - in_cycle, Decimal(0))  # base of ours held between cycles: fee dust to sweep
    bot.log.info("Trading {} ({}) on {}: target {} {} bought today ({} so far), {} {} per cycle",
                  market.token.symbol, market.token.alpha_id, market.symbol, fmt(bot.book.target),
                  bot.cfg.quote, fmt(bot.book.volume), fmt(bot.cfg.order_quote_amount), bot.cfg.quote)

def use_market(bot: Bot, market: catalog.Market) -> None:
    bot.token, bot.symbol, bot.filters = market.token, market.symbol, market.filters
    bot.book.set_target(bot.cfg.target.kind, bot.cfg.target.value, market.token.mul_point)

async def shutdown(bot: Bot) -> None:
    """Stop placing; cancel a working BUY that has not filled and settle the cancel (fills read over REST);
    leave a live SELL to finish on the book."""
    try:
        if bot.cycle.state in (State.pending, State.partially_filled) and bot.cycle_row is not None:
            bot._cancelling = "working"
            await bot._fire("buy_timeout", "shutting down: cancelling the unfilled BUY")
            w = bot.orders.working
            if w is not None and bot.desk is not None:
                with contextlib.suppress(TimeoutError, ExchangeError):
                    async with asyncio.timeout(3.0):
                        await bot.desk.cancel(bot.cycle_row, bot.orders, w)
                        bot.log.info("Cancelled the unfilled BUY {} before stopping", w.order_id)
        if bot.cycle.state is State.cancelling and bot.cycle_row is not None and bot.desk is not None:
            # A fill that raced the cancel may never arrive on the stream now: read the cycle's orders over REST
            # so it is recorded before exiting (bounded: the supervisor's stop grace is 8 s in all).
            with contextlib.suppress(TimeoutError, ExchangeError):
                async with asyncio.timeout(STOP_SETTLE_S):
                    await bot.desk.refresh(bot.cycle_row, bot.orders, "stopping: settling the cancel")
        await bot.flush_writes()
        bot.log.info("Stopped in state {}", bot.cycle.state)
    finally:
        manual.abandon(bot, "the bot stopped before it finished")
        if bot._stop_done is not None and not bot._stop_done.done():
            bot._stop_done.set_result(None)
