"""Opt-in shared price feed: one market websocket per symbol for every bot of the process, fanned out in memory.

The fixed design gives each bot its own price websocket, so a trade is decoded once per bot: O(users²) work at
hundreds of users on few symbols (profiled in `otobot bench`). With `exchange.shared_price_stream: true` each
symbol's trades are decoded once and handed to every bot trading it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
from loguru import logger

from otobot.config.settings import ReliabilityConfig
from otobot.exchange.models import AggTrade
from otobot.exchange.streams import MarketStream

OnTrade = Callable[[AggTrade], None]


class _Feed:
    def __init__(self, stream: MarketStream) -> None:
        self.stream = stream
        self.subscribers: set[OnTrade] = set()
        self.task: asyncio.Task[None] | None = None

    def dispatch(self, trade: AggTrade) -> None:
        for cb in tuple(self.subscribers):
            cb(trade)


class PriceFeeds:
    """Owns one aiohttp session and one MarketStream task per symbol that has subscribers."""

    def __init__(self, url: str, rel: ReliabilityConfig) -> None:
        self.url = url
        self.rel = rel
        self._session: aiohttp.ClientSession | None = None
        self._feeds: dict[str, _Feed] = {}

    def subscribe(self, symbol: str, on_trade: OnTrade) -> MarketStream:
        """Start (or join) the symbol's feed; returns its stream so the bot can read `connected`."""
        feed = self._feeds.get(symbol)
        if feed is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            stream = MarketStream(self._session, self.url, symbol, lambda t: feed_ref.dispatch(t),
                                  ping_interval_s=self.rel.ws_ping_interval_s,
                                  stale_after_s=self.rel.market_stale_after_s,
                                  backoff_max_s=self.rel.ws_backoff_max_s, logger=logger.bind(user="*", cycle="-"))
            feed = feed_ref = _Feed(stream)
            feed.task = asyncio.create_task(stream.run(), name=f"price-{symbol}")
            self._feeds[symbol] = feed
        feed.subscribers.add(on_trade)
        if feed.stream.last_trade is not None:
            on_trade(feed.stream.last_trade)
        return feed.stream

    def unsubscribe(self, symbol: str, on_trade: OnTrade) -> None:
        feed = self._feeds.get(symbol)
        if feed is not None:
            feed.subscribers.discard(on_trade)

    async def close(self) -> None:
        for feed in self._feeds.values():
            if feed.task is not None:
                feed.task.cancel()
        await asyncio.gather(*(f.task for f in self._feeds.values() if f.task), return_exceptions=True)
        self._feeds.clear()
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()

    def stats(self) -> dict[str, Any]:
        return {s: len(f.subscribers) for s, f in self._feeds.items()}
