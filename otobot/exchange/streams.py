"""Market and user-data websockets: one owner task each, reconnect with jittered backoff, listen-key upkeep.

The user stream follows NautilusTrader's idea: on every (re)subscribe it holds dispatch, buffers events,
lets the bot reconcile over REST (`on_synced`), then replays the buffer in arrival order and goes live.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from loguru import logger as default_logger

from otobot.exchange import protocol as p
from otobot.exchange.batches import ReadBatches
from otobot.exchange.errors import AuthExpired, ExchangeError, MalformedMessage, RiskChallenge
from otobot.exchange.models import AggTrade, ExecutionReport


def _market_decoder() -> Callable[[str], Any]:
    """orjson when installed (`pip install otobot[fast]`), else the stdlib. Safe where every amount is a string
    (market frames; executionReports per the §7 captures), so no number passes through a binary float: a report
    that does carry a fractional number is decoded again exactly (`_report`)."""
    try:
        loads: Callable[[str], Any] = importlib.import_module("orjson").loads
    except ImportError:
        return p.loads
    return loads


_fast_loads = _market_decoder()

ACK_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
MALFORMED_LOG_EVERY = 100  # log the first malformed frame and then one in every N (a broken feed can flood)
# A connection that stayed up this long after serving (user: subscribed and reconciled; market: first frame)
# was healthy, so its loss starts the backoff again from the first step. Without it a daemon that had lost
# a few connections over hours waited the 15-30 s cap on every later drop (issue 9, problem 8). A server
# that drops us sooner than this after accepting still meets a growing backoff, so we never hammer it;
# 2 s is short enough that a stream dropped every few seconds (the bench's chaos) is still counted healthy.
HEALTHY_AFTER_S = 2.0
DAY_S = 86_400


def backoff_delay(attempt: int, cap_s: float, rng: random.Random, base_s: float = 0.5) -> float:
    """Capped exponential backoff with jitter in [half, full] of the step (pure)."""
    step = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return float(step * rng.uniform(0.5, 1.0))


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st (pure)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Backoff:
    """One stream's reconnect bookkeeping: the backoff step, which resets after a connection that served,
    and how long the stream was lost (logged once when it is back)."""

    def __init__(self, label: str, cap_s: float, rng: random.Random, log: Any, *, healthy_after_s: float,
                 clock: Callable[[], float], wall: Callable[[], float] = time.time) -> None:
        self.label = label
        self.cap_s = cap_s
        self.rng = rng
        self.log = log
        self.healthy_after_s = healthy_after_s
        self.clock = clock
        self.wall = wall
        self.step = 0  # the backoff step of the latest wait: 1 after a drop that followed a healthy connection
        self.drops_today = 0
        self._day = -1
        self._up_since: float | None = None
        self._down_since: float | None = None

    @property
    def up(self) -> bool:
        return self._up_since is not None

    def served(self) -> None:
        """The connection carries the stream now; if it had been lost, say for how long."""
        if self._up_since is not None:
            return
        now = self.clock()
        self._up_since = now
        if self._down_since is not None:
            self.log.info("{} reconnected after {:.1f} s ({} drop today)", self.label, now - self._down_since,
                          ordinal(self.drops_today))
            self._down_since = None

    def lost(self, planned: bool = False) -> float:
        """The connection (or an attempt) ended: the seconds to wait before the next attempt."""
        now = self.clock()
        healthy = self._up_since is not None and now - self._up_since >= self.healthy_after_s
        self._up_since = None
        if planned:  # key expiry or rotation: the stream was fine, come straight back
            self.step = 0
            return self.rng.uniform(0.05, 0.3)
        if self._down_since is None:
            self._down_since = now
            day = int(self.wall() // DAY_S)
            if day != self._day:
                self._day, self.drops_today = day, 0
            self.drops_today += 1
        self.step = 1 if healthy else self.step + 1
        return backoff_delay(self.step, self.cap_s, self.rng)


class _Malformed:
    """Counts malformed frames and logs a truncated sample now and then."""

    def __init__(self, log: Any, what: str) -> None:
        self.log, self.what, self.count = log, what, 0

    def __call__(self, raw: str, exc: Exception) -> None:
        self.count += 1
        if self.count % MALFORMED_LOG_EVERY == 1:
            self.log.warning("Skipped a malformed {} frame ({}; {} so far): {:.200}", self.what, exc, self.count, raw)


HEARTBEAT_MISSES = 2  # ping intervals without a frame back before the user stream is taken for dead
_CLOSED = frozenset({aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED})


class TradeCache:
    """Parsed trades of the last few market frames by their text: the bots on one symbol, each on its own
    socket, receive the same frame text, so one decode serves them all (profiled: the decode of every trade by
    every bot, O(users²), was the largest CPU cost of the price path at 100 users)."""

    __slots__ = ("_trades", "get", "size")

    def __init__(self, size: int = 256) -> None:
        self.size = size  # bound: the last 256 frame texts, oldest dropped first
        self._trades: dict[str, AggTrade] = {}
        # The hit path of every frame: the dict's own lookup, no Python frame in between.
        self.get: Callable[[str], AggTrade | None] = self._trades.get

    def put(self, raw: str, trade: AggTrade) -> None:
        if len(self._trades) >= self.size:
            del self._trades[next(iter(self._trades))]  # the oldest: dicts keep insertion order
        self._trades[raw] = trade


class MarketStream:
    """`<symbol>@aggTrade` for one symbol; a no-message watchdog reconnects a silent feed."""

    def __init__(self, session: aiohttp.ClientSession, url: str, symbol: str, on_trade: Callable[[AggTrade], None],
                 *, ping_interval_s: float = 20.0, stale_after_s: float = 30.0, backoff_max_s: float = 30.0,
                 logger: Any = None, rng: random.Random | None = None, healthy_after_s: float = HEALTHY_AFTER_S,
                 clock: Callable[[], float] = time.monotonic, trade_cache: TradeCache | None = None,
                 read_every_s: float = 0.0, on_reconnect: Callable[[], None] | None = None) -> None:
        self.session = session
        self.url = url
        self.symbol = symbol
        self.on_reconnect = on_reconnect  # each lost connection, before the backoff: for a reconnect counter
        self.trade_cache = trade_cache
        self.read_every_s = read_every_s  # > 0: read the socket in batches (ReadBatches); 0: every frame at once
        self.stream = p.agg_trade_stream(symbol)
        self.on_trade = on_trade
        # Not used for a heartbeat: aiohttp's `heartbeat=` re-arms a timer on every frame (profiled at a few % of
        # the daemon at 100 users); the watchdog below notices a silent socket once per connection instead, and
        # autoping still answers the server's pings. Kept so every stream takes the same settings.
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.backoff_max_s = backoff_max_s
        self.log = logger or default_logger
        self.rng = rng or random.Random()
        self.connected = False
        self.last_trade: AggTrade | None = None
        self.frames = 0  # frames read on this stream: the watchdog's sign of life, a counter costs no clock call
        self.reconnects = 0
        self.backoff = Backoff(f"Market stream {self.stream}", backoff_max_s, self.rng, self.log,
                               healthy_after_s=healthy_after_s, clock=clock)
        self._malformed = _Malformed(self.log, "market")

    async def run(self) -> None:
        while True:
            reason = "closed by the server"
            try:
                async with self.session.ws_connect(self.url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                                                   autoping=True) as ws:
                    await ws.send_str(p.dumps({"method": "SUBSCRIBE", "params": [self.stream], "id": 1}))
                    self.connected = True
                    # One watchdog per connection instead of a timer per message: at hundreds of bots the
                    # per-message timeout was the single largest CPU cost (profiled).
                    silent = asyncio.Event()
                    watchdog = asyncio.create_task(self._watchdog(ws, silent))
                    try:
                        await self._read(ws)
                    finally:
                        watchdog.cancel()
                    if silent.is_set():  # the watchdog may still be in the close handshake when the read ends
                        reason = f"no message for {self.stale_after_s:.0f} s"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected = False
            self.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect()
            delay = self.backoff.lost()
            self.log.warning("Market stream {} lost ({}); reconnect #{} in {:.1f} s", self.stream, reason,
                             self.backoff.step, delay)
            await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The per-frame path: runs ~60 times a second per bot at 100 users, so it does nothing it can skip."""
        receive, on_text, text = ws.receive, self._on_text, aiohttp.WSMsgType.TEXT
        batches = ReadBatches.of(ws, self.read_every_s)
        try:
            msg = await receive()
            while msg.type not in _CLOSED:  # where `async for msg in ws` stops, without its extra coroutine
                if msg.type is text:
                    self.frames += 1
                    self.backoff.served()  # the ack or a trade: the feed answers
                    on_text(msg.data)
                if batches is not None:
                    batches.read_later()
                msg = await receive()
        finally:
            if batches is not None:
                batches.stop()

    async def _watchdog(self, ws: aiohttp.ClientWebSocketResponse, silent: asyncio.Event) -> None:
        """Close a connection silent for `stale_after_s`; the read loop then reconnects. Looks a few times per
        period whether the frame count moved, so a silence is noticed between 1 and 1.25 periods after the last
        frame, never before."""
        tick = self.stale_after_s / 4
        seen, quiet_since = self.frames, time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if self.frames != seen:
                seen, quiet_since = self.frames, now
            elif now - quiet_since >= self.stale_after_s:
                silent.set()
                await ws.close()
                return

    def _on_text(self, raw: str) -> bool:
        """Dispatch one frame; True when it was a trade (the feed is healthy)."""
        cache = self.trade_cache
        trade = cache.get(raw) if cache is not None else None
        if trade is not None:
            self.last_trade = trade
            self.on_trade(trade)
            return True
        try:
            # The hot path at many users: every bot parses every trade of its symbol on its own socket.
            frame = _fast_loads(raw)
            data = frame.get("data") if isinstance(frame, dict) else None
            if not isinstance(data, dict) or data.get("e") != "aggTrade":
                return False
            trade = AggTrade.parse(data)
        except (ValueError, MalformedMessage) as exc:
            self._malformed(raw, exc)
            return False
        if cache is not None:
            cache.put(raw, trade)
        self.last_trade = trade
        self.on_trade(trade)
        return True


class _Closed(Exception):
    """The user stream ended: `planned` for key rotation failures and expiries, else an outage."""

    def __init__(self, reason: str, planned: bool) -> None:
        super().__init__(reason)
        self.planned = planned


class UserStream:
    """`alpha@<listenKey>` executionReports with buffered reconciliation on every (re)subscribe."""

    def __init__(self, session: aiohttp.ClientSession, url: str, rest: Any, *,
                 on_event: Callable[[ExecutionReport], Awaitable[None]], on_synced: Callable[[], Awaitable[None]],
                 on_down: Callable[[], Awaitable[None]] | None = None, renew_every_s: float = 25 * 60,
                 ping_interval_s: float = 20.0, backoff_max_s: float = 30.0, logger: Any = None,
                 rng: random.Random | None = None, healthy_after_s: float = HEALTHY_AFTER_S,
                 clock: Callable[[], float] = time.monotonic, name: str | None = None) -> None:
        self.session = session
        self.url = url
        self.rest = rest
        self.on_event = on_event
        self.on_synced = on_synced
        self.on_down = on_down
        self.renew_every_s = renew_every_s
        self.ping_interval_s = ping_interval_s
        self.backoff_max_s = backoff_max_s
        self.log = logger or default_logger
        self.rng = rng or random.Random()
        self.connected = False
        self.reconnects = 0
        self.last_event_monotonic = 0.0
        self.last_receive_monotonic = 0.0  # when the frame being dispatched was read off the socket
        self.listen_key: str | None = None
        self.backoff = Backoff(f"User stream for {name}" if name else "User stream", backoff_max_s, self.rng,
                               self.log, healthy_after_s=healthy_after_s, clock=clock)
        self._ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._malformed = _Malformed(self.log, "user-stream")
        self.frames_in = 0  # frames read, pongs included: what the heartbeat watches

    async def run(self) -> None:
        """Forever; raises AuthExpired/RiskChallenge (after on_down) when the session is no longer valid."""
        while True:
            planned = False
            try:
                key = await self.rest.listen_key()
            except (AuthExpired, RiskChallenge):
                await self._down()
                raise
            except ExchangeError as exc:
                reason = f"listen key request failed: {exc}"
            else:
                self.listen_key = key
                try:
                    # Our own heartbeat (_heartbeat), not aiohttp's `heartbeat=`: since aiohttp 3.14 (PR 12030) that
                    # one ties the connection's protocol and the socket object in a reference cycle that outlives
                    # the close, ~40 objects a dropped connection that only a (rare, by design) full collection
                    # frees: the chaos soak's RSS climbed in steps with them (issue 24).
                    async with self.session.ws_connect(self.url, autoping=False,
                                                       timeout=aiohttp.ClientWSTimeout(ws_close=5.0)) as ws:
                        await self._serve(ws, key)
                    reason = "closed by the server"
                except _Closed as exc:
                    reason, planned = str(exc), exc.planned
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                except (AuthExpired, RiskChallenge):
                    await self._down()
                    raise
                finally:
                    await self._down()
            self.reconnects += 1
            delay = self.backoff.lost(planned)
            if planned:
                self.log.info("{} {}; reconnecting with a fresh listen key", self.backoff.label, reason)
            else:
                self.log.warning("{} lost ({}); reconnect #{} in {:.1f} s", self.backoff.label, reason,
                                 self.backoff.step, delay)
            await asyncio.sleep(delay)

    async def _down(self) -> None:
        was = self.connected
        self.connected = False
        for fut in self._acks.values():
            if not fut.done():
                fut.cancel()
        self._acks.clear()
        if was and self.on_down is not None:
            await self.on_down()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, key: str) -> None:
        queue: asyncio.Queue[tuple[ExecutionReport, float] | _Closed] = asyncio.Queue()
        reader = asyncio.create_task(self._read(ws, queue))
        heartbeat = asyncio.create_task(self._heartbeat(ws, queue))
        renewer: asyncio.Task[None] | None = None
        try:
            await self._subscribe(ws, key)
            # From the subscription on, events queue up; the bot reconciles; then the queue drains in order.
            await self.on_synced()
            self.connected = True
            self.backoff.served()
            renewer = asyncio.create_task(self._renew(ws))
            while True:
                item = await queue.get()
                if isinstance(item, _Closed):
                    try:
                        raise item
                    finally:
                        del item  # a frame holding the exception its traceback holds: a cycle (see rest.py)
                event, received = item
                self.last_receive_monotonic = received
                self.last_event_monotonic = received
                await self.on_event(event)
        finally:
            for task in (reader, heartbeat, renewer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse, key: str) -> None:
        await self._request(ws, "SUBSCRIBE", p.user_stream(key))

    async def _request(self, ws: aiohttp.ClientWebSocketResponse, method: str, stream: str) -> None:
        req_id = next(self._ids)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[req_id] = fut
        await ws.send_str(p.dumps({"method": method, "params": [stream], "id": req_id}))
        try:
            async with asyncio.timeout(ACK_TIMEOUT_S):
                await fut
        except TimeoutError:
            raise _Closed(f"no answer to {method} within {ACK_TIMEOUT_S:.0f} s", planned=False) from None
        finally:
            self._acks.pop(req_id, None)

    async def _renew(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Keep the key alive; if the exchange hands out a new one, move the subscription over on this socket."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            old = self.listen_key
            try:
                key = await self.rest.listen_key()
                if key != old:
                    await self._request(ws, "SUBSCRIBE", p.user_stream(key))
                    self.listen_key = key
                    if old:
                        with contextlib.suppress(_Closed):
                            await self._request(ws, "UNSUBSCRIBE", p.user_stream(old))
                    self.log.info("Listen key rotated; subscription moved to the new key")
            except (ExchangeError, _Closed) as exc:
                self.log.warning("Listen key renewal failed ({}); reconnecting to get a fresh one", exc)
                await ws.close()
                return

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse,
                         queue: asyncio.Queue[tuple[ExecutionReport, float] | _Closed]) -> None:
        """A ping every `ping_interval_s` (§4.4: what every peer sends); a socket that sent nothing back (no pong,
        no frame) for HEARTBEAT_MISSES intervals in a row is dead: closed, and the stream reconnects as after any
        drop. Two, not one: a process stalled past one interval (a loaded machine) reads the pong only after its
        own timer has fired."""
        missed = 0
        while True:
            seen = self.frames_in
            try:
                await ws.ping()
            except (aiohttp.ClientError, OSError):
                return  # closing already: the reader reports why
            await asyncio.sleep(self.ping_interval_s)
            missed = missed + 1 if self.frames_in == seen else 0
            if missed >= HEARTBEAT_MISSES:
                queue.put_nowait(_Closed(f"no pong for {missed * self.ping_interval_s:g} s", planned=False))
                await ws.close()
                return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse,
                    queue: asyncio.Queue[tuple[ExecutionReport, float] | _Closed]) -> None:
        closed = _Closed("closed by the server", planned=False)
        receive, text, ping = ws.receive, aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING
        try:
            msg = await receive()
            while msg.type not in _CLOSED:  # where `async for msg in ws` stops, without its extra coroutine
                self.frames_in += 1  # any frame, a pong included: the heartbeat's sign of life
                if msg.type is ping:  # autoping is off (see run): the server's pings are answered here
                    await ws.pong(msg.data)
                elif msg.type is text:
                    received = time.monotonic()
                    outcome = self._on_text(msg.data)
                    if isinstance(outcome, ExecutionReport):
                        queue.put_nowait((outcome, received))
                    elif isinstance(outcome, _Closed):
                        closed = outcome
                        break
                msg = await receive()
            if ws.close_code not in (None, 1000) and not closed.planned:
                closed = _Closed(f"closed by the server (code {ws.close_code})", planned=ws.close_code == 1001)
        except (aiohttp.ClientError, OSError) as exc:
            closed = _Closed(f"{type(exc).__name__}: {exc}", planned=False)
        finally:
            queue.put_nowait(closed)

    def _on_text(self, raw: str) -> ExecutionReport | _Closed | None:
        try:
            frame = _user_loads(raw)
            if not isinstance(frame, dict):
                raise MalformedMessage("frame is not an object")
            if "result" in frame and "id" in frame:
                fut = self._acks.get(frame["id"]) if isinstance(frame["id"], int) else None
                if fut is not None and not fut.done():
                    if frame.get("error"):
                        fut.set_exception(_Closed(f"subscription refused: {frame['error']}", planned=False))
                    else:
                        fut.set_result(None)
                return None
            if frame.get("error") is not None and "id" in frame:
                fut = self._acks.get(frame["id"]) if isinstance(frame["id"], int) else None
                if fut is not None and not fut.done():
                    fut.set_exception(_Closed(f"subscription refused: {frame['error']}", planned=False))
                return None
            data = frame.get("data")
            if not isinstance(data, dict):
                raise MalformedMessage("frame has no data object")
            kind = data.get("e")
            if kind == "executionReport":
                return _report(raw, data)
            if kind == "listenKeyExpired":
                return _Closed("listen key expired", planned=True)
            self.log.debug("Ignoring user-stream event {!r}", kind)
            return None
        except (ValueError, MalformedMessage) as exc:
            self._malformed(raw, exc)
            return None


def _user_loads(raw: str) -> Any:
    try:
        return _fast_loads(raw)
    except ValueError:
        return p.loads(raw)  # orjson refuses integers wider than 64 bits, which the stdlib reads


def _report(raw: str, data: Any) -> ExecutionReport:
    try:
        return ExecutionReport.parse(data)
    except MalformedMessage:
        if _fast_loads is p.loads:
            raise
    # orjson read some number with a fraction as a binary float, which parse refuses: decode the frame exactly
    # (every such number a Decimal) and parse that, so an amount sent as a number is neither lost nor rounded.
    frame = p.loads(raw)
    return ExecutionReport.parse(frame.get("data") if isinstance(frame, dict) else None)
