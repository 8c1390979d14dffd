"""One user's driver: inbox (events, timers, commands) → facts → cycle.decide → the desk's requests → transitions."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
from loguru import logger
from transitions import Machine

from otobot.config.settings import GlobalConfig, UserConfig
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import AuthExpired, ExchangeError, RateLimited, RiskChallenge
from otobot.exchange.filters import fmt
from otobot.exchange.models import AggTrade, SymbolFilters, Token
from otobot.exchange.ratelimit import RateLimiter
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import MarketStream, TradeCache
from otobot.store.carry import Carry
from otobot.store.db import Store
from otobot.store.records import CycleRow
from otobot.trading import actions, autotoken, cycle, feeds, follow, inbox, manual, owncoins, pauses, startup
from otobot.trading.bookfeed import BookFeed
from otobot.trading.cycle import LIVE_STATES, Cycle, Facts, State, Timers, attach, decide, detach
from otobot.trading.depthcache import DepthCache
from otobot.trading.desk import Desk
from otobot.trading.pauses import Pause
from otobot.trading.ports import Clock, MetricsSink, Notify, SystemClock
from otobot.trading.pricefeed import PriceFeeds
from otobot.trading.state import TradingState
from otobot.trading.userfeed import UserFeed
from otobot.trading.volatility import PriceWindow

_ZERO = Decimal(0)


class Bot:
    """The trading loop of one user. Everything that changes state runs in the single driver task."""

    def __init__(self, user: UserConfig, settings: GlobalConfig, store: Store, credentials: Credentials,
                 machine: Machine, *, clock: Clock | None = None, notify: Notify | None = None,
                 metrics: MetricsSink | None = None, price_feeds: PriceFeeds | None = None,
                 trade_cache: TradeCache | None = None, depth_cache: DepthCache | None = None) -> None:
        self.cfg = user
        self.name = user.name
        self.settings = settings
        self.rel = settings.reliability
        self.store = store
        self.credentials = credentials
        self.machine = machine
        self.clock: Clock = clock or SystemClock()
        self.notify = notify
        self.metrics = metrics
        self.price_feeds = price_feeds
        self.trade_cache = trade_cache
        self.depth_cache = depth_cache
        self.log = logger.bind(user=user.name, cycle="-")
        self.state = TradingState()  # every fact decide() reads: changed here, from events and components
        self.cycle = Cycle(on_change=self._on_transition)
        self._changes: list[tuple[str, str, str]] = []
        self.carry = Carry()  # state changes not yet written: they ride in the next write, or the step's end
        self.inbox: asyncio.Queue[inbox.Msg] = asyncio.Queue()
        self.token: Token | None = None
        self.filters: SymbolFilters | None = None
        self.symbol = ""
        self.last_trade: AggTrade | None = None
        self.last_trade_at: float | None = None
        self.window = PriceWindow(user.volatility_window_s)
        self.link = self.state.link
        self.link.down_since = self.clock.monotonic()
        self.market: MarketStream | None = None
        self.user_feed: UserFeed | None = None
        self.rest: AlphaRest | None = None
        self.desk: Desk | None = None
        self.session: aiohttp.ClientSession | None = None
        self.market_task: asyncio.Task[None] | None = None
        self.depth: BookFeed | None = None  # pricing.mode book: the symbol's order book, kept live
        self.depth_task: asyncio.Task[None] | None = None
        self.latencies: deque[float] = deque(maxlen=1_024)  # bound: the last 1,024 reactions (fill read → next request)
        self._creds_changed = asyncio.Event()
        self._stopping = False
        self._stop_done: asyncio.Future[Any] | None = None
        self._attached = False  # the machine drives self.cycle (after _restore): status shows "starting" before
        self._fire_log: tuple[Any, int | None, Any] | None = None  # _fire: (bot.log, cycle id, bound to that id)

    # Read-only views of the state for readers outside trading/ (supervisor, bench, tests).
    paused_reason = property(lambda self: self.state.paused_reason)
    cycle_row = property(lambda self: self.state.cycle_row)
    orders = property(lambda self: self.state.orders)
    book = property(lambda self: self.state.book)
    cycles_completed = property(lambda self: self.state.cycles_completed)
    stream_up = property(lambda self: self.state.link.up)

    # ================================================================== lifecycle

    async def run(self) -> None:
        """Trade until stopped; raises only on an unexpected error (the supervisor restarts the bot)."""
        timeout = aiohttp.ClientTimeout(total=self.rel.rest_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.session = session
            self.rest = AlphaRest(session, self.settings.exchange.rest_url, self.credentials,
                                  limiter=RateLimiter(self.rel.requests_per_second, self.rel.request_burst),
                                  timeout_s=self.rel.rest_timeout_s, retries=self.rel.rest_retries,
                                  logger=self.log, on_latency=self._rest_latency if self.metrics else None,
                                  on_outcome=self._rest_outcome if self.metrics else None)
            self.desk = Desk(self.name, self.store, self.rest, self.clock, self._count_fill, self.log, self.carry)
            await self.store.ensure_user(self.name, self.clock.time_ms())
            restored = await startup.restore(self)
            attach(self.machine, self.cycle, restored)
            self._attached = True
            self._entered(restored, restored=True)
            try:
                await startup.bootstrap(self)
            except startup.BotProblem as exc:
                await self.hold(exc.reason, str(exc))
            except (AuthExpired, RiskChallenge) as exc:
                await self._pause_for(exc)
            tasks: list[asyncio.Task[None]] = []
            if self.filters is not None:
                self.user_feed = UserFeed(session, self.settings, self.rest, self.inbox, self._creds_changed,
                                          self.clock, self.log)
                tasks = [asyncio.create_task(self.guard(self.user_feed.run), name=f"{self.name}-user")]
                feeds.watch(self)
            try:
                await self._drive()
            finally:
                feeds.unwatch(self)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                detach(self.machine, self.cycle)
                manual.abandon(self, "the bot stopped before it finished (see the log)")

    async def stop(self) -> None:
        """Graceful stop: no new cycle; a working BUY not yet filled is cancelled; the rest waits on the book.
        Returns once the bot has done so (the caller awaits the bot's task next, never cancels it first)."""
        await self._command("stop", None)

    async def pause(self, reason: str = Pause.operator) -> dict[str, Any]:
        return dict(await self._command("pause", reason))

    async def resume(self) -> dict[str, Any]:
        return dict(await self._command("resume", None))

    async def manual(self, kind: str) -> dict[str, Any]:
        """ctl cancel / flatten: returns the report once done (the user is then paused `operator`)."""
        return dict(await self._command(kind, None))

    def set_credentials(self, credentials: Credentials) -> None:
        self.credentials = credentials
        if self.rest is not None:
            self.rest.credentials = credentials
        self._creds_changed.set()

    def update_config(self, cfg: UserConfig) -> None:
        """A reloaded file: applied at the next cycle boundary (never in the middle of an OTO). The unwind ladder and
        the timeouts apply at once: a paused or unwinding user (unwind_failed) reaches no boundary to apply them."""
        self.cfg = replace(self.cfg, unwind=cfg.unwind, buy_timeout_s=cfg.buy_timeout_s,
                           sell_timeout_s=cfg.sell_timeout_s)
        self.state.next_cfg = cfg
        self.inbox.put_nowait(inbox.Wake())

    async def _command(self, name: str, arg: Any) -> Any:
        cmd = inbox.Command(name, arg)
        await self.inbox.put(cmd)
        return await cmd.done

    async def guard(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run a stream task; an unexpected error reaches the driver so the whole bot restarts cleanly."""
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self.inbox.put(inbox.Crashed(exc))

    # ================================================================== stream callbacks

    def on_trade(self, trade: AggTrade) -> None:
        now = self.clock.monotonic()
        self.last_trade = trade
        self.last_trade_at = now
        self.window.add(now, trade.price)
        if self.metrics is not None:  # the exchange's trade time to our reading it: the stream's lag
            self.metric("observe", "ws_frame_delay_seconds", max(0.0, self.clock.time_ms() - trade.trade_time_ms)
                        / 1000, stream="market")

    # ================================================================== the driver

    async def _drive(self) -> None:
        while True:
            if self._stopping:
                try:
                    await startup.shutdown(self)
                finally:
                    if self._stop_done is not None and not self._stop_done.done():
                        self._stop_done.set_result(None)
                return
            await self._guarded(self._advance())
            msg = await inbox.next_message(self.inbox, self._next_wake(), self.clock.monotonic)
            if msg is None:
                continue  # the timer: advance
            await self._guarded(self._handle(msg))
            while not self.inbox.empty() and not self._stopping:
                await self._guarded(self._handle(self.inbox.get_nowait()))

    async def _guarded(self, step: Awaitable[None]) -> None:
        """A REST failure mid-step is a reason to look again shortly, not to crash: state lives in SQLite and
        on the exchange, and the next step starts by reading them. Session problems pause the user."""
        try:
            await step
            return
        except (AuthExpired, RiskChallenge) as exc:
            await self._pause_for(exc)
        except ExchangeError as exc:
            retry = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else 1.0
            self.log.warning("Exchange error in state {} ({}); trying again in {:.1f} s", self.cycle.state, exc, retry)
            self.link.retry_at = self.clock.monotonic() + retry  # a wake-up only: the state's own timer is kept
        await self.flush_writes()  # a step cut short never reached its own flush: its state changes go now

    def _next_wake(self) -> float | None:
        wakes = self.link.wakes(following=self.cycle.state in LIVE_STATES, paused=self.state.paused_reason is not None,
                                grace_s=self.rel.disconnect_grace_s)
        if self.state.deadline is not None:
            wakes.append(self.state.deadline)
        if self.cycle.state in (State.finished, State.idle):
            wakes.append(self.clock.monotonic() + 30.0)  # day rollover and reloads are noticed within 30 s
        return min(wakes) if wakes else None

    async def _handle(self, msg: inbox.Msg) -> None:
        if isinstance(msg, inbox.Exec):
            await follow.on_report(self, msg.report, msg.received)
        elif isinstance(msg, inbox.Synced):
            self.link.subscribed()
            try:
                await self._resync("user stream (re)subscribed")
            finally:
                if not msg.done.done():
                    msg.done.set_result(None)
        elif isinstance(msg, inbox.Down):
            if self.link.lost(self.clock.monotonic()):
                self.log.warning("User-data stream lost; placing nothing new, following the cycle over REST")
            self.metric("inc", "ws_reconnects_total", 1.0, stream="user")
        elif isinstance(msg, inbox.AuthLost):
            self.link.up = self.link.connected = False
            await self._pause_for(msg.error)
        elif isinstance(msg, inbox.Command):
            await self._run_command(msg)
        elif isinstance(msg, inbox.Crashed):
            raise msg.error

    async def _resync(self, why: str) -> None:
        if await follow.resync(self, why) and self.state.paused_reason == Pause.disconnected \
                and self.rel.resume_after_reconnect:
            await self._resume("reconnected and reconciled")

    async def _run_command(self, cmd: inbox.Command) -> None:
        try:
            if cmd.name == "stop":
                self._stopping = True
                self._stop_done = cmd.done
                return  # answered by _shutdown, once the unfilled BUY is really cancelled
            if cmd.name in manual.KINDS:
                await manual.start(self, cmd.name, cmd.done)
                return  # answered by manual.check_done with the report
            if cmd.name == "pause":
                await self.hold(str(cmd.arg or Pause.operator), "paused by the operator")
            elif cmd.name == "resume":
                await self._resume("resumed by the operator")
            else:
                raise ValueError(f"unknown command {cmd.name!r}")
            await self.flush_writes()  # the operator reads SQLite next (audit, cycles)
            if not cmd.done.done():
                cmd.done.set_result(self.status())
        except Exception as exc:
            if not cmd.done.done():
                cmd.done.set_exception(exc)

    async def _advance(self) -> None:
        """Do what the current state, the facts and the clock call for. Called after every message and timer."""
        now = self.clock.monotonic()
        link = self.link
        if link.retry_at is not None and now >= link.retry_at:
            link.retry_at = None
        if link.resync_at is not None and now >= link.resync_at and link.connected:
            link.resync_at = None
            await self._resync("retrying the reconciliation")
        if not link.up and self.cycle.state in LIVE_STATES and now >= link.poll_at \
                and self.state.cycle_row is not None and self.desk is not None:
            link.poll_at = now + self.rel.rest_poll_s
            with contextlib.suppress(ExchangeError):
                await self.desk.refresh(self.state.cycle_row, self.state.orders,
                                        "user stream down: following the cycle")
        if (link.down_since is not None and self.state.paused_reason is None
                and now - link.down_since >= self.rel.disconnect_grace_s):
            await self.hold(Pause.disconnected, f"user-data stream down for {now - link.down_since:.0f} s "
                              f"(grace {self.rel.disconnect_grace_s:.0f} s)")
        if autotoken.due(self, now):
            await autotoken.reselect(self)
        # One decision may lead straight into a state that acts at once (cancelled → done → idle → place);
        # the same actions again in the same state and timer mean nothing moved: wait for news.
        last: tuple[Any, ...] | None = None
        for _ in range(12):
            todo = decide(self.cycle.state, self._facts(), self.clock.monotonic())
            key = (self.cycle.state, self.state.deadline, len(self.state.orders.unwinds), tuple(todo))
            if not todo or key == last:
                break
            last = key
            for action in todo:
                await actions.act(self, action)
        await self.flush_writes()
        manual.check_done(self)

    def _facts(self) -> Facts:
        """What decide() looks at: the state, with what the driver reads of the market and the settings."""
        state, st = self.cycle.state, self.state
        new_day = state in (State.idle, State.finished) and st.book.roll(self.clock.time_ms())
        if new_day:
            self.log.info("A new UTC day {}: target {} {}", st.book.day, fmt(st.book.target), self.cfg.quote)
        leftover, sellable = _ZERO, False
        if self.filters is not None and state in (State.cancelled, State.unwinding):
            leftover = st.orders.leftover(self.filters.step_size)
            sellable = actions.sellable_now(self, leftover)
        return st.facts(new_day=new_day, can_trade=self.filters is not None,
                        dust=actions.sweepable(self) if state is State.idle else _ZERO, leftover=leftover,
                        sellable=sellable, rungs=len(self.cfg.unwind.ladder_pct), buy_s=self.cfg.buy_timeout_s,
                        sell_s=self.cfg.sell_timeout_s)

    # ================================================================== transitions

    def _on_transition(self, frm: str, to: str, reason: str) -> None:
        self._changes.append((frm, to, reason))

    async def fire(self, trigger: str, reason: str, *, persist: bool = True) -> bool:
        ok = cycle.fire(self.machine, self.cycle, trigger, reason)
        now_ms = self.clock.time_ms()
        for frm, to, why in self._changes:
            cid = self.state.cycle_row.id if self.state.cycle_row else None
            # The logger bound to this cycle is made once per cycle, not per transition (bind copies the logger
            # even when DEBUG is off).
            if self._fire_log is None or self._fire_log[0] is not self.log or self._fire_log[1] != cid:
                self._fire_log = (self.log, cid, self.log.bind(cycle=cid or "-"))
            self._fire_log[2].debug("{} → {}: {}", frm, to, why)
            self._entered(State(to))
            if not persist:
                continue
            if to == State.done and self.state.cycle_row is not None:
                self.state.done_from = (frm, why)  # written with the cycle's close, one transaction (hot path)
                continue
            # Carried: written with the bot's next write (the fill, the close, the next intent) or at the end of
            # this step, never later; memory holds the state meanwhile and nothing reads it back from SQLite.
            if self.state.cycle_row is not None and frm != State.done:
                self.carry.add(*self.store.cycle_state_stmts(
                    self.state.cycle_row.id, self.name, frm, to, why, now_ms, closed=to in (State.done, State.idle),
                    cancelling=self.state.cancelling))
            else:
                self.carry.add(self.store.transition_audit_stmt(now_ms, self.name, frm, to, why))
        self._changes.clear()
        return ok

    async def load_cycle(self, row: CycleRow) -> None:
        """Make `row` the cycle in flight (restored, a sweep, an adopted late OTO), its orders read from SQLite."""
        await self.flush_writes()  # the last cycle's deferred changes land before this one's rows are read
        orders, cancelling = await startup.read_cycle(self.store, row)
        self.state.start_cycle(row, orders, cancelling, confirmed=False)
        self.bind_log(row.id)

    def bind_log(self, cycle_id: int | None) -> None:
        self.log = logger.bind(user=self.name, cycle=cycle_id if cycle_id is not None else "-")
        if self.desk is not None:
            self.desk.log = self.log

    async def flush_writes(self) -> None:
        """The deferred state changes, committed: at the end of every step, before an answer to the operator."""
        await self.store.flush(self.carry)

    def _entered(self, state: State, *, restored: bool = False) -> None:
        self.state.enter(state, self.timers(), self.clock.monotonic(), restored=restored)
        if state is State.reconciling:
            assert self.desk is not None
            self.desk.misses = self.desk.pending_misses = 0
        if state is State.finished:
            self.tell("target_reached", f"today's target reached: {fmt(self.state.book.volume)} {self.cfg.quote} "
                      f"bought (target {fmt(self.state.book.target)})")
            self.log.info("Today's target is reached: {}", self.state.book.progress())

    def timers(self) -> Timers:
        return Timers(buy_s=self.cfg.buy_timeout_s, sell_s=self.cfg.sell_timeout_s, settle_s=self.rel.unknown_settle_s,
                      rung_s=self.cfg.unwind.rung_timeout_s, between_s=self.cfg.pause_between_cycles_s,
                      last_fill_at=self.state.fill_received)

    # ================================================================== pausing, bookkeeping

    async def _pause_for(self, exc: ExchangeError) -> None:
        reason = pauses.for_error(exc) or Pause.auth_expired
        await self.hold(reason, pauses.help_text(reason, self.name, detail=str(exc)))

    async def hold(self, reason: str, detail: str) -> None:
        first = self.state.paused_reason != reason
        self.state.paused_reason = reason
        if first:
            self.log.warning("Paused ({}): {}", reason, detail)
            await self.store.set_pause(self.name, reason, self.clock.time_ms())
            kind = reason if reason in pauses.SESSION else "paused"
            self.tell(kind, f"{self.name} paused ({reason}): {detail}")
        if self.cycle.state in (State.idle, State.done) and self.state.cycle_row is None:
            await self.fire("pause", reason)

    async def _resume(self, why: str) -> None:
        if self.state.paused_reason is None:
            return
        was = self.state.paused_reason
        self.state.paused_reason = None
        self.state.quote_free = None
        if was == Pause.disconnected and not self.link.up:
            # The operator says go on: the stream gets a fresh grace period instead of a re-pause this instant.
            self.link.down_since = None if self.link.connected else self.clock.monotonic()
        await self.store.set_pause(self.name, None, self.clock.time_ms())
        if was == Pause.unwind_failed:
            await owncoins.restart_ladder(self, why)  # from the first rung, with today's settings and balance
        self.log.info("Resumed (was {}): {}", was, why)
        self.tell("resumed", f"{self.name} resumed ({why})")
        if was in pauses.SESSION:
            self._creds_changed.set()

    def tell(self, kind: str, text: str) -> None:
        if self.notify is not None:
            self.notify(kind, self.name, text)

    def _rest_outcome(self, path: str, outcome: str) -> None:
        self.metric("inc", "rest_requests_total", 1.0, path=path, outcome=outcome)

    def _rest_latency(self, path: str, seconds: float) -> None:
        self.metric("observe", "rest_latency_seconds", seconds, path=path)

    def metric(self, op: str, name: str, value: float, **labels: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, op)(name, value, user=self.name, **labels)

    def _count_fill(self, side: str, quote_qty: Decimal, time_ms: int) -> None:
        self.metric("inc", "fills_total", 1.0)
        if side == "BUY":
            self.state.book.add_buy(quote_qty, time_ms)
            self.metric("set", "volume_quote", float(self.state.book.volume))  # a gauge for Prometheus only

    # ================================================================== reporting

    def status(self) -> dict[str, Any]:
        age = None if self.last_trade_at is None else round(self.clock.monotonic() - self.last_trade_at, 1)
        return {
            "user": self.name,
            "state": str(self.cycle.state) if self._attached else "starting",
            "paused": self.state.paused_reason,
            "token": self.token.symbol if self.token else self.cfg.token,
            "symbol": self.symbol,
            **self.state.book.status(self.cfg.order_quote_amount),
            "cycle_id": self.state.cycle_row.id if self.state.cycle_row else None,
            "user_stream": "up" if self.stream_up else "down",
            "market_stream": "none" if self.market is None else "up" if self.market.connected else "down",
            "price_age_s": age, "max_price_age_s": self.cfg.max_price_age_s,
            "last_price": fmt(self.last_trade.price) if self.last_trade else None,
            "waiting": (self.state.waiting_for.as_dict() if self.state.waiting_for is not None
                        and self.state.paused_reason is None else None),
            "pricing": self.cfg.pricing.mode,
            "token_choice": self.state.auto.why if self.state.auto else None,
        }
