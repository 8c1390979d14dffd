"""The paper market's upstream: public REST reads and ONE websocket for every mirrored stream, never credentials.

Whatever speaks §1.1/§4.1 of alpha-api.md can be the upstream: binance.com's public hosts, or another simulator
process (the tests' upstream). The connection carries `<pair>@aggTrade` and `<pair>@fulldepth@100ms` of every
mirrored pair, so any number of paper users cost the upstream one socket and a snapshot per pair per gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from loguru import logger

from otobot.exchange import protocol as p
from otobot.exchange.book import DepthSnapshot, DepthUpdate
from otobot.exchange.errors import MalformedMessage
from otobot.exchange.models import AggTrade, SymbolFilters, Token
from otobot.exchange.streams import backoff_delay
from otobot.sim.config import SimSymbol

DEPTH_LIMIT = 1000  # levels per side of a snapshot: the whole book any paper order can reach
AGG_TRADES_BOOTSTRAP = 100  # prints fetched at start so REST agg-trades and the first price are not empty
BUFFER_MAX = 1000  # depth frames kept per pair while its snapshot is on its way
REST_TIMEOUT_S = 10.0
STALE_AFTER_S = 30.0  # a socket silent this long is closed and reconnected (a quiet token still moves its book)
MAX_UNNAMED = 20  # tokens mirrored when none are named
USER_AGENT = "otobot-paper (public market data only)"


class UpstreamError(Exception):
    """The upstream answered something unusable, or could not be reached: one sentence naming the URL."""


def market_ws_for(rest_url: str) -> str:
    """The market websocket that goes with a REST URL: nbstream for binance.com, else the same host's path (as the
    simulator serves it)."""
    url = rest_url.rstrip("/")
    if url == p.REAL_REST_URL:
        return p.REAL_MARKET_WS_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UpstreamError(f"--market-from {rest_url!r} is not an http(s) URL; give e.g. https://www.binance.com")
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/w3w/wsa/stream"


@dataclass(frozen=True, slots=True)
class Listing:
    """One mirrored token: the upstream's own rows (served to paper clients as they are) and the simulator's view."""

    token_row: dict[str, Any]
    symbol_row: dict[str, Any]
    sim: SimSymbol


def sim_symbol(token: Token, filters: SymbolFilters, price: Decimal) -> SimSymbol:
    """The simulator's symbol for an upstream token: its filters and multiplier, and no synthetic market at all
    (no maker levels, no other traders): the mirror supplies both."""
    return SimSymbol(alpha_id=token.alpha_id, symbol=token.symbol, name=token.name, price=price,
                     tick=filters.tick_size, step=filters.step_size, min_qty=filters.min_qty,
                     mul_point=max(1, token.mul_point), quote=filters.quote_asset, min_notional=filters.min_notional,
                     volatility_bps=Decimal(0), levels=0, trades_per_s=0.0)


@dataclass
class PairBook:
    """One pair's upstream book with the §4.1 continuity rule (pure). Bootstrap: frames buffer until a snapshot;
    then frames with u ≤ its id are old, the first one after it needs pu ≤ its id (ids are one sequence for all
    pairs, so U may lie beyond it), every later one pu == the previous u. Anything else is a gap."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    update_id: int | None = None
    synced: bool = False
    gaps: int = 0
    _first: bool = False
    _buffer: list[DepthUpdate] = field(default_factory=list)

    def reset(self, snapshot: DepthSnapshot) -> bool:
        """Take a snapshot and replay the buffered frames; False when the replay found a gap (snapshot too old)."""
        self.bids = {price: qty for price, qty in snapshot.bids if qty > 0}
        self.asks = {price: qty for price, qty in snapshot.asks if qty > 0}
        self.update_id, self.synced, self._first = snapshot.last_update_id, True, True
        buffered, self._buffer = self._buffer, []
        return all(self.apply(u) != "gap" for u in buffered)

    def apply(self, update: DepthUpdate) -> str:
        """"applied", "old", "buffered" or "gap" (the caller fetches a snapshot)."""
        if not self.synced or self.update_id is None:
            if len(self._buffer) >= BUFFER_MAX:
                del self._buffer[: BUFFER_MAX // 2]
            self._buffer.append(update)
            return "buffered"
        if update.last_id <= self.update_id:
            return "old"
        if not (update.prev_id <= self.update_id if self._first else update.prev_id == self.update_id):
            self.synced = False
            self.gaps += 1
            self._buffer = [update]
            return "gap"
        for side, levels in ((self.bids, update.bids), (self.asks, update.asks)):
            for price, qty in levels:
                if qty > 0:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.update_id, self._first = update.last_id, False
        return "applied"

    def lost(self) -> None:
        """The socket went away: frames were missed, so nothing here is trusted until the next snapshot."""
        self.synced = False
        self._buffer = []


BookChanged = Callable[[str, PairBook], None]
TradeSeen = Callable[[str, dict[str, Any], AggTrade], None]
StateChanged = Callable[[bool, str], None]


class Upstream:
    """Public reads from one upstream and its single market websocket. `run()` keeps the socket forever (capped,
    jittered backoff) and calls `on_book` after every change of a synced book, `on_trade` for every print and
    `on_state(up, reason)` when the feed comes or goes."""

    def __init__(self, session: aiohttp.ClientSession, rest_url: str, ws_url: str | None = None, *,
                 backoff_max_s: float = 30.0, stale_after_s: float = STALE_AFTER_S,
                 rng: random.Random | None = None) -> None:
        self.session = session
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url or market_ws_for(rest_url)
        self.backoff_max_s = backoff_max_s
        self.stale_after_s = stale_after_s
        self.rng = rng or random.Random()
        self.pairs: list[str] = []
        self.books: dict[str, PairBook] = {}
        self.on_book: BookChanged = lambda pair, book: None
        self.on_trade: TradeSeen = lambda pair, data, trade: None
        self.on_state: StateChanged = lambda up, reason: None
        self.up = False
        self.reason = "not connected yet"
        self.requests: dict[str, int] = {}  # path → count: the tests' proof of what reached the upstream
        self.reconnects = 0
        self.snapshots = 0
        self.frames = 0
        self._snapshots: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------ REST (public endpoints only, no cookies)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """One public GET → the envelope's `data`. Sends no cookie, csrftoken or session header of anyone's."""
        self.requests[path] = self.requests.get(path, 0) + 1
        url = self.rest_url + path
        try:
            async with self.session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=REST_TIMEOUT_S),
                                        headers={"user-agent": USER_AGENT, "accept": "application/json"}) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UpstreamError(f"cannot read {url}: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise UpstreamError(f"{url} answered HTTP {status}")
        try:
            body = p.loads(raw)
        except ValueError:
            raise UpstreamError(f"{url} answered something that is not JSON") from None
        if not isinstance(body, dict) or "data" not in body or body.get("success") is False:
            raise UpstreamError(f"{url} answered without data: {str(body)[:200]}")
        return body["data"]

    async def discover(self, wanted: tuple[str, ...] = ()) -> list[Listing]:
        """The tokens to mirror (all tradable ones, or those `wanted` by symbol or alphaId) with their filters and
        a starting price; remembers their pairs for `run`."""
        token_rows = await self.get(p.TOKEN_LIST)
        info = await self.get(p.EXCHANGE_INFO)
        if not isinstance(token_rows, list) or not isinstance(info, dict):
            raise UpstreamError(f"{self.rest_url}: the token list or exchange info has an unexpected shape")
        symbol_rows = {str(s.get("symbol")): s for s in info.get("symbols") or [] if isinstance(s, dict)}
        names = {w.upper() for w in wanted}
        tradable: list[tuple[dict[str, Any], dict[str, Any], Token, SymbolFilters]] = []
        for row in token_rows:
            try:
                token = Token.parse(row)
            except MalformedMessage:
                continue
            srow = symbol_rows.get(p.symbol_for(token.alpha_id, "USDT"))
            if srow is None or not token.tradable:
                continue
            filters = SymbolFilters.parse(srow)
            if filters.trading:
                tradable.append((row, srow, token, filters))
        chosen = [t for t in tradable if not names or names & {t[2].symbol.upper(), t[2].alpha_id.upper()}]
        found = {t[2].symbol.upper() for t in chosen} | {t[2].alpha_id.upper() for t in chosen}
        missing = sorted(w for w in wanted if w.upper() not in found)
        if missing or not chosen:
            listed = ", ".join(sorted(t[2].symbol for t in tradable)[:30]) or "none"
            raise UpstreamError(f"{self.rest_url} lists no tradable USDT pair for {', '.join(missing) or 'any token'}"
                                f"; its tradable tokens: {listed}")
        if not names and len(chosen) > MAX_UNNAMED:
            # Every mirrored token costs the upstream a snapshot and two streams: name them rather than take all.
            raise UpstreamError(f"{self.rest_url} lists {len(chosen)} tradable tokens; name the ones to mirror "
                                f"(at most {MAX_UNNAMED} without naming), e.g. --tokens "
                                f"{','.join(t[2].symbol for t in chosen[:3])}")
        listings = [Listing(row, srow, sim_symbol(token, filters, await self._price(filters.symbol, row)))
                    for row, srow, token, filters in chosen]
        self.pairs = [x.sim.pair for x in listings]
        self.books = {pair: PairBook() for pair in self.pairs}
        return listings

    async def _price(self, pair: str, token_row: dict[str, Any]) -> Decimal:
        """A starting price: the ticker's last price, else the token list's, else 1 (replaced by the first print)."""
        with contextlib.suppress(UpstreamError, ArithmeticError, TypeError, ValueError):
            data = await self.get(p.TICKER, {"symbol": pair})
            if isinstance(data, dict) and data.get("lastPrice") not in (None, ""):
                return Decimal(str(data["lastPrice"]))
        with contextlib.suppress(ArithmeticError, TypeError, ValueError):
            return Decimal(str(token_row.get("price")))
        return Decimal(1)

    async def recent_prints(self, pair: str) -> list[dict[str, Any]]:
        """The upstream's latest agg-trades rows (REST shape), oldest first."""
        rows = await self.get(p.AGG_TRADES, {"symbol": pair, "limit": str(AGG_TRADES_BOOTSTRAP)})
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    # ------------------------------------------------------------ the websocket

    def streams(self) -> list[str]:
        return [s for pair in self.pairs for s in (p.agg_trade_stream(pair), p.full_depth_stream(pair))]

    async def run(self) -> None:
        attempt = 0
        while True:
            reason = "closed by the upstream"
            try:
                async with self.session.ws_connect(self.ws_url, autoping=True, headers={"user-agent": USER_AGENT},
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=5.0)) as ws:
                    await ws.send_str(p.dumps({"method": "SUBSCRIBE", "params": self.streams(), "id": 1}))
                    attempt = 0
                    for pair in self.pairs:
                        self._resync(pair)
                    reason = await self._read(ws)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            finally:
                await self._stop_snapshots()
                for book in self.books.values():
                    book.lost()
            attempt += 1
            self.reconnects += 1
            delay = backoff_delay(attempt, self.backoff_max_s, self.rng)
            self._set_state(False, f"upstream market stream {self.ws_url} lost ({reason}); reconnect #{attempt} "
                                   f"in {delay:.1f} s")
            logger.warning("Paper market: {}", self.reason)
            await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            try:
                msg = await ws.receive(timeout=self.stale_after_s)
            except TimeoutError:
                return f"no message for {self.stale_after_s:.0f} s"
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                return "closed by the upstream"
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames += 1
                self._on_text(msg.data)

    def _on_text(self, raw: str) -> None:
        try:
            frame = p.loads(raw)
            data = frame.get("data") if isinstance(frame, dict) else None
            if not isinstance(data, dict):
                return
            kind = data.get("e")
            if kind == "aggTrade":
                trade = AggTrade.parse(data)
                self.on_trade(trade.symbol, data, trade)
            elif kind == "depthUpdate":
                self._on_depth(DepthUpdate.parse(data))
        except (ValueError, MalformedMessage) as exc:
            logger.warning("Paper market: skipped a malformed upstream frame ({}): {:.200}", exc, raw)

    def _on_depth(self, update: DepthUpdate) -> None:
        book = self.books.get(update.symbol)
        if book is None:
            return
        result = book.apply(update)
        if result == "applied":
            self.on_book(update.symbol, book)
        elif result == "gap":
            logger.info("Paper market: {} depth gap (pu {} after u {}); resyncing from REST", update.symbol,
                        update.prev_id, book.update_id)
            self._resync(update.symbol)

    def _resync(self, pair: str) -> None:
        task = self._snapshots.get(pair)
        if task is None or task.done():
            self._snapshots[pair] = asyncio.create_task(self._snapshot(pair), name=f"paper-snapshot-{pair}")

    async def _snapshot(self, pair: str) -> None:
        """REST fullDepth for one pair, retried with backoff until the book is synced (or the socket goes)."""
        attempt = 0
        while True:
            try:
                data = await self.get(p.FULL_DEPTH, {"symbol": pair, "limit": str(DEPTH_LIMIT)})
                snapshot = DepthSnapshot.parse(data, pair)
            except (UpstreamError, MalformedMessage) as exc:
                attempt += 1
                delay = backoff_delay(attempt, self.backoff_max_s, self.rng)
                logger.warning("Paper market: snapshot of {} failed ({}); retrying in {:.1f} s", pair, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.snapshots += 1
            book = self.books[pair]
            if book.reset(snapshot):
                self.on_book(pair, book)
                if all(b.synced for b in self.books.values()):
                    self._set_state(True, f"mirroring {self.rest_url} ({len(self.pairs)} tokens)")
                return
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, self.backoff_max_s, self.rng))

    async def _stop_snapshots(self) -> None:
        tasks = [t for t in self._snapshots.values() if not t.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._snapshots.clear()

    def _set_state(self, up: bool, reason: str) -> None:
        changed = up != self.up
        self.up, self.reason = up, reason
        if changed:
            self.on_state(up, reason)

    def status(self) -> dict[str, Any]:
        return {"up": self.up, "reason": self.reason, "rest_url": self.rest_url, "ws_url": self.ws_url,
                "pairs": list(self.pairs), "reconnects": self.reconnects, "snapshots": self.snapshots,
                "frames": self.frames, "gaps": {pair: b.gaps for pair, b in self.books.items()},
                "requests": dict(self.requests), "time_ms": time.time_ns() // 1_000_000}
