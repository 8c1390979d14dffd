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
from otobot.exchange.book import DepthSnapshot
from otobot.exchange.errors import ExchangeError, MalformedMessage
from otobot.exchange.streams import backoff_delay
from otobot.trading.book import Applied, LocalBook
from otobot.trading.depthcache import DepthCache, decode

SNAPSHOT_LIMIT = 1000  # levels per side: the whole book as far as any order of otobot's can reach
SILENT_GRACE_S = 1.0  # after REST shows a change the socket never sent: time for a frame still on its way


class BookFeed:
    """Owns the book stream of one symbol and its LocalBook (`book`), which the bot reads with `book_quote`.

    Bootstrap and every gap: frames are buffered by the book while a REST snapshot is fetched, then replayed
    (§4.1). A quiet market sends no frames, so after `quiet_resnapshot_s` without one the feed takes a fresh
    snapshot: a book that stops changing stays fresh only while the exchange confirms it. If that snapshot shows
    changes the socket never delivered, the socket is silent (half-open): it is closed and reconnected. That one
    watchdog per connection replaces aiohttp's heartbeat, which re-armed a timer on every frame (profiled); the
    server's pings are still answered (autoping). `rest` should be a public client (no credentials), so these
    reads never spend a user's order rate budget. With a `depth_cache`, bots on one symbol decode each frame once
    and share the applied levels; continuity and freshness stay with each feed's own socket.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, rest: Any, symbol: str, *,
                 speed: str = p.FULL_DEPTH_100MS, quiet_resnapshot_s: float = 5.0,
                 backoff_max_s: float = 30.0, clock: Callable[[], float] = time.monotonic, logger: Any = None,
                 rng: random.Random | None = None, depth_cache: DepthCache | None = None) -> None:
        self.session = session
        self.url = url
        self.rest = rest
        self.symbol = symbol
        self.stream = p.full_depth_stream(symbol, speed)
        self.quiet_resnapshot_s = quiet_resnapshot_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.log = logger or default_logger
        self.rng = rng or random.Random()
        self.cache = depth_cache
        self.book = LocalBook(symbol, depth_cache.line(symbol) if depth_cache is not None else None)
        self.connected = False
        self.reconnects = 0
        self.snapshots = 0
        self.frames = 0  # messages read, all connections: the watchdog's sign of life
        self._last_message = 0.0  # time.monotonic() of the last one
        self.silent_closes = 0
        self._silent = False  # this connection was closed by the watchdog
        self._snapshot: asyncio.Task[bool] | None = None

    async def run(self) -> None:
        """Forever: connect, subscribe, keep the book; reconnect with capped jittered backoff."""
        attempt = 0
        while True:
            reason = "closed by the server"
            try:
                # No aiohttp heartbeat: the watchdog below judges the socket (see the class docstring).
                async with self.session.ws_connect(self.url, autoping=True,
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=5.0)) as ws:
                    await ws.send_str(p.dumps({"method": "SUBSCRIBE", "params": [self.stream], "id": 1}))
                    self.connected = True
                    self._silent = False
                    attempt = 0
                    watchdog = asyncio.create_task(self._watchdog(ws))
                    try:
                        await self._serve(ws)
                    finally:
                        watchdog.cancel()
                    self._log_failure(watchdog)
                    if self._silent:
                        reason = "silent: REST showed changes the socket never sent"
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
        self._last_message = time.monotonic()
        self._start_snapshot()
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames += 1
                self._last_message = time.monotonic()
                self._on_text(msg.data)

    async def _watchdog(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """`quiet_resnapshot_s` after the last message or confirmation: confirm the book over REST. If REST holds
        levels the synced book never received, frames were due; if none comes within a grace, close the socket
        (the read loop then reconnects). A quiet market (REST levels unchanged) never closes anything, whatever its
        update id does. Real time, not `clock`: it paces the socket, not the book's age."""
        confirmed = time.monotonic()
        while True:
            wait = max(self._last_message, confirmed) + self.quiet_resnapshot_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            seen = self.frames
            missed = await self._start_snapshot()
            confirmed = time.monotonic()
            if not missed or self.frames != seen:
                continue
            await asyncio.sleep(SILENT_GRACE_S)
            if self.frames == seen:
                self._silent = True
                self.silent_closes += 1
                self.log.warning("Book stream {} sent nothing while the book changed on REST; reconnecting",
                                 self.stream)
                await ws.close()
                return

    def _log_failure(self, watchdog: asyncio.Task[None]) -> None:
        if watchdog.done() and not watchdog.cancelled() and watchdog.exception() is not None:
            self.log.error("Book stream {} watchdog failed: {!r}", self.stream, watchdog.exception())

    def _on_text(self, raw: str) -> None:
        try:
            update = self.cache.frame(raw) if self.cache is not None else decode(raw)
        except (ValueError, MalformedMessage) as exc:
            self.log.warning("Skipped a malformed book frame on {} ({}): {:.200}", self.stream, exc, raw)
            return
        if update is None:
            return  # the subscription ack
        if self.book.apply(update, self.clock()) is Applied.GAP:
            self.log.info("Book {} has a gap (pu {} after u {}); resyncing from REST", self.symbol, update.prev_id,
                          self.book.update_id)
        if self.book.needs_resync:
            self._start_snapshot()

    def _start_snapshot(self) -> asyncio.Task[bool]:
        """The snapshot in flight, or a new one; its result: REST showed changes the synced book had missed."""
        if self._snapshot is None or self._snapshot.done():
            self._snapshot = asyncio.create_task(self._take_snapshot())
        return self._snapshot

    async def _take_snapshot(self) -> bool:
        try:
            snapshot: DepthSnapshot = await self.rest.full_depth(self.symbol, SNAPSHOT_LIMIT)
        except (ExchangeError, MalformedMessage) as exc:
            # The next frame (or the next quiet period) tries again; the book stays unusable meanwhile.
            self.log.warning("Book snapshot of {} failed ({}); retrying on the next frame", self.symbol, exc)
            return False
        current = self.book.update_id
        if self.book.synced and current is not None and snapshot.last_update_id <= current:
            self.book.touch(self.clock())  # the exchange confirms the book we hold (a quiet market)
            return False
        missed = self.book.synced and not self.book.shows(snapshot, SNAPSHOT_LIMIT)
        replayed = self.book.reset(snapshot, self.clock())
        self.snapshots += 1
        if Applied.GAP in replayed:
            self.log.info("Book {} snapshot {} is older than the buffered frames; fetching another",
                          self.symbol, snapshot.last_update_id)
        return missed

    async def _stop_snapshot(self) -> None:
        if self._snapshot is not None and not self._snapshot.done():
            self._snapshot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._snapshot
        self._snapshot = None
