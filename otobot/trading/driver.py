"""What a component (actions, follow, manual, startup, feeds, token chooser) is handed of the bot that drives it:
its state, its ports (store, rest, desk, clock, log) and the few driver calls that change the machine or pause.
A Protocol, so the components never import the driver (bot.py) and trading/ has no import cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import aiohttp

from otobot.config.settings import GlobalConfig, ReliabilityConfig, UserConfig
from otobot.exchange.models import AggTrade, SymbolFilters, Token
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import MarketStream, TradeCache
from otobot.store.db import Store
from otobot.store.records import CycleRow
from otobot.trading.bookfeed import BookFeed
from otobot.trading.cycle import Cycle, Timers
from otobot.trading.depthcache import DepthCache
from otobot.trading.desk import Desk
from otobot.trading.ports import Clock
from otobot.trading.pricefeed import PriceFeeds
from otobot.trading.state import TradingState
from otobot.trading.volatility import PriceWindow


class Driver(Protocol):
    """One user's bot as its components see it."""

    name: str
    cfg: UserConfig
    settings: GlobalConfig
    rel: ReliabilityConfig
    store: Store
    clock: Clock
    log: Any
    state: TradingState
    cycle: Cycle  # the model the transitions machine drives: read its state, never set it
    carry: Any
    rest: AlphaRest | None
    desk: Desk | None
    session: aiohttp.ClientSession | None
    # the market: what is traded and its feeds
    token: Token | None
    symbol: str
    filters: SymbolFilters | None
    last_trade: AggTrade | None
    last_trade_at: float | None
    window: PriceWindow
    stream_up: bool
    market: MarketStream | None
    depth: BookFeed | None
    market_task: Any
    depth_task: Any
    price_feeds: PriceFeeds | None
    trade_cache: TradeCache | None
    depth_cache: DepthCache | None
    latencies: Any

    async def fire(self, trigger: str, reason: str, *, persist: bool = True) -> bool: ...
    async def hold(self, reason: str, detail: str) -> None: ...
    async def flush_writes(self) -> None: ...
    async def load_cycle(self, row: CycleRow) -> None: ...
    def bind_log(self, cycle_id: int | None) -> None: ...
    def tell(self, kind: str, text: str) -> None: ...
    def metric(self, op: str, name: str, value: float, **labels: str) -> None: ...
    def timers(self) -> Timers: ...
    def on_trade(self, trade: AggTrade) -> None: ...
    def guard(self, run: Callable[[], Awaitable[None]]) -> Coroutine[Any, Any, None]: ...
