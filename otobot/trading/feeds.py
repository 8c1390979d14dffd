"""The market feeds a bot reads: its symbol's trades (its own socket, or the shared stream) and, in book mode,
its order book; started for the current symbol and stopped when the symbol changes or the bot ends."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import MarketStream
from otobot.trading.bookfeed import BookFeed
from otobot.trading.volatility import PriceWindow

if TYPE_CHECKING:
    from otobot.trading.driver import Driver


def watch(bot: Driver) -> None:
    """Follow the current symbol's trades (a token change moves this at a cycle boundary), and its book."""
    _watch_depth(bot)
    if bot.price_feeds is not None:
        bot.market = bot.price_feeds.subscribe(bot.symbol, bot.on_trade)
        return
    assert bot.session is not None
    bot.market = MarketStream(bot.session, bot.settings.exchange.market_ws_url, bot.symbol, bot.on_trade,
                              ping_interval_s=bot.rel.ws_ping_interval_s, stale_after_s=bot.rel.market_stale_after_s,
                              backoff_max_s=bot.rel.ws_backoff_max_s, logger=bot.log, trade_cache=bot.trade_cache,
                              read_every_s=bot.settings.exchange.price_read_every_s)
    bot.market_task = asyncio.create_task(bot.guard(bot.market.run), name=f"{bot.name}-market")


def _watch_depth(bot: Driver) -> None:
    """pricing.mode book: keep the symbol's order book. Its REST snapshots go through a public client
    (no cookies, no limiter), so they never spend the user's order rate budget."""
    if bot.cfg.pricing.mode != "book":
        return
    assert bot.session is not None
    public = AlphaRest(bot.session, bot.settings.exchange.rest_url, None, timeout_s=bot.rel.rest_timeout_s,
                       retries=bot.rel.rest_retries, logger=bot.log)
    bot.depth = BookFeed(bot.session, bot.settings.exchange.market_ws_url, public, bot.symbol,
                         backoff_max_s=bot.rel.ws_backoff_max_s, clock=bot.clock.monotonic, logger=bot.log,
                         depth_cache=bot.depth_cache)
    bot.depth_task = asyncio.create_task(bot.guard(bot.depth.run), name=f"{bot.name}-depth")


def unwatch(bot: Driver) -> None:
    """Stop reading the symbol's feeds and forget its prices: the next symbol's window starts empty."""
    if bot.price_feeds is not None and bot.symbol:
        bot.price_feeds.unsubscribe(bot.symbol, bot.on_trade)
    if bot.market_task is not None:
        bot.market_task.cancel()  # awaited by nobody on purpose: it only reads a socket
        bot.market_task = None
    if bot.depth_task is not None:
        bot.depth_task.cancel()
        bot.depth_task = None
    bot.depth = None
    bot.last_trade = bot.last_trade_at = None
    bot.window = PriceWindow(bot.cfg.volatility_window_s)
