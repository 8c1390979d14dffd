"""One symbol's live book: `@fulldepth` frames into a LocalBook, bootstrapped and resynced from REST fullDepth."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from loguru import logger as default_logger

from otobot.exchange import protocol as p
from otobot.exchange.book import DepthUpdate
from otobot.exchange.errors import ExchangeError, MalformedMessage
from otobot.exchange.streams import backoff_delay
from otobot.trading.book import Applied, LocalBook

SNAPSHOT_LIMIT = 1000  # levels per side: the whole book as far as any order of otobot's can reach


class BookFeed:
    """Owns the book stream of one symbol and its LocalBook (`book`), which the bot reads with `book_quote`.

    Bootstrap and every gap: frames are buffered by the book while a REST snapshot is fetched, then replayed
    (§4.1). A quiet market sends no frames, so after `quiet_resnapshot_s` without one the feed takes a fresh
    snapshot: a book that stops changing stays fresh only while the exchange confirms it. `rest` should be a
    public client (no credentials), so these reads never spend a user's order rate budget.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, rest: Any, symbol: str, *,
                 speed: str = p.FULL_DEPTH_100MS, quiet_resnapshot_s: float = 5.0, ping_interval_s: float = 20.0,
                 backoff_max_s: float = 30.0, clock: Callable[[], float] = time.monotonic, logger: Any = None,
                 rng: random.Random | None = None) -> None:
        self.session = session
        self.url = url
        self.rest = rest
        self.symbol = symbol
        self.stream = p.full_depth_stream(symbol, speed)
        self.quiet_resnapshot_s = quiet_resnapshot_s
        self.ping_interval_s = ping_interval_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.log = logger or default_logger
        self.rng = rng or random.Random()
        self.book = LocalBook(symbol)
        self.connected = False
        self.reconnects = 0
        self.snapshots = 0
        self._snapshot: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Forever: connect, subscribe, keep the book; reconnect with capped jittered backoff."""
        attempt = 0
        while True:
            try:
                async with self.session.ws_connect(self.url, heartbeat=self.ping_interval_s,
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=5.0)) as ws:
                    await ws.send_str(p.dumps({"method": "SUBSCRIBE", "params": [self.stream], "id": 1}))
                    self.connected = True
                    attempt = 0
                    await self._serve(ws)
                reason = "closed by the server"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected = False
                self.book.invalidate()  # frames sent while we were away are lost: resync after reconnecting
                await self._stop_snapshot()
            attempt += 1
            self.reconnects += 1
            delay = backoff_delay(attempt, self.backoff_max_s, self.rng)
            self.log.warning("Book stream {} lost ({}); reconnect #{} in {:.1f} s", self.stream, reason, attempt,
                             delay)
            await asyncio.sleep(delay)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._start_snapshot()
        while True:
            try:
                msg = await ws.receive(timeout=self.quiet_resnapshot_s)
            except TimeoutError:
                self._start_snapshot()  # quiet market: confirm the book over REST
                continue
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.ERROR):
                return
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._on_text(msg.data)

    def _on_text(self, raw: str) -> None:
        try:
            frame = p.loads(raw)
            data = frame.get("data") if isinstance(frame, dict) else None
            if not isinstance(data, dict) or data.get("e") != "depthUpdate":
                return  # the subscription ack
            update = DepthUpdate.parse(data)
        except (ValueError, MalformedMessage) as exc:
            self.log.warning("Skipped a malformed book frame on {} ({}): {:.200}", self.stream, exc, raw)
            return
        if self.book.apply(update, self.clock()) is Applied.GAP:
            self.log.info("Book {} has a gap (pu {} after u {}); resyncing from REST", self.symbol, update.prev_id,
                          self.book.update_id)
        if self.book.needs_resync:
            self._start_snapshot()

    def _start_snapshot(self) -> None:
        if self._snapshot is None or self._snapshot.done():
            self._snapshot = asyncio.create_task(self._take_snapshot())

    async def _take_snapshot(self) -> None:
        try:
            snapshot = await self.rest.full_depth(self.symbol, SNAPSHOT_LIMIT)
        except ExchangeError as exc:
            # The next frame (or the next quiet period) tries again; the book stays unusable meanwhile.
            self.log.warning("Book snapshot of {} failed ({}); retrying on the next frame", self.symbol, exc)
            return
        current = self.book.update_id
        if self.book.synced and current is not None and snapshot.last_update_id <= current:
            self.book.touch(self.clock())  # the exchange confirms the book we hold (a quiet market)
            return
        replayed = self.book.reset(snapshot, self.clock())
        self.snapshots += 1
        if Applied.GAP in replayed:
            self.log.info("Book {} snapshot {} is older than the buffered frames; fetching another",
                          self.symbol, snapshot.last_update_id)

    async def _stop_snapshot(self) -> None:
        if self._snapshot is not None and not self._snapshot.done():
            self._snapshot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._snapshot
        self._snapshot = None
