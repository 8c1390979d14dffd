"""One user: owns its REST session, two streams and cycle machine, and turns events and timers into transitions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import aiohttp
from loguru import logger
from transitions import Machine

from otobot import points, strategy
from otobot.config import GlobalConfig, UserConfig
from otobot.cycle import LIVE_STATES, Cycle, PlaceFacts, attach, detach
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import (
    AuthExpired,
    ExchangeError,
    InsufficientBalance,
    OrderNotFound,
    RateLimited,
    RiskChallenge,
    UnknownOutcome,
)
from otobot.exchange.filters import FilterError, build_limit, fmt, sellable
from otobot.exchange.models import FILLED, SELL, AggTrade, ExecutionReport, Order, SymbolFilters, Token
from otobot.exchange.protocol import symbol_for
from otobot.exchange.ratelimit import RateLimiter
from otobot.exchange.rest import AlphaRest
from otobot.exchange.streams import MarketStream, UserStream
from otobot.pricefeed import PriceFeeds
from otobot.reconcile import CLOCK_SKEW_MS, latest_by_id, match_limit, match_oto
from otobot.store import CycleRow, Fill, OrderRow, Store
from otobot.tracker import CycleOrders, TrackedOrder, merge_status, next_trigger
from otobot.volatility import PriceWindow

TOKEN_CACHE_MAX_AGE_MS = 6 * 3600 * 1000  # mulPoint and flags change a few times a day at most
FILTER_CACHE_MAX_AGE_MS = 6 * 3600 * 1000
BALANCE_MAX_AGE_S = 30.0  # the exchange's 481020 stays the authority; this only avoids hopeless places
CANCEL_CHECK_S = 5.0  # no cancel confirmation on the stream after this → ask REST
REFUSAL_RETRY_S = 1.0  # a guard said no: look again after this
SETTLE_LOOKUPS = 2  # "not found" must hold on this many lookups, settle_s apart, before we believe it

# Pause reasons an operator sees in `otobot status`; README explains how to clear each.
OPERATOR = "operator"
DISCONNECTED = "disconnected"
AUTH_EXPIRED = "auth_expired"
RISK_CHALLENGE = "risk_challenge"
INSUFFICIENT_BALANCE = "insufficient_balance"
CONFIG = "config"
UNWIND_FAILED = "unwind_failed"
REJECTED = "order_rejected"
# Reasons that describe a condition re-checked at start, not an operator's decision.
TRANSIENT_PAUSES = frozenset({DISCONNECTED, INSUFFICIENT_BALANCE, CONFIG, REJECTED})


FACT_REASONS = {
    "buy_partial": "working BUY partly filled",
    "buy_filled": "working BUY filled, pending SELL live",
    "sell_filled": "pending SELL filled",
    "cancelled": "the OTO ended unfilled",
    "unwound": "unwind SELL filled",
}


class Clock(Protocol):
    def time_ms(self) -> int: ...
    def monotonic(self) -> float: ...


class SystemClock:
    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class MetricsSink(Protocol):
    def inc(self, name: str, value: float = 1.0, **labels: str) -> None: ...
    def set(self, name: str, value: float, **labels: str) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...


Notify = Callable[[str, str, str], None]  # (kind, user, text)


class BotProblem(Exception):
    """Something about this user's setup that trading cannot work around: pauses the user with `reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# ------------------------------------------------------------------ inbox messages (one driver task reads them)
@dataclass(slots=True)
class _Exec:
    report: ExecutionReport
    received: float


@dataclass(slots=True)
class _Synced:
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Down:
    pass


@dataclass(slots=True)
class _AuthLost:
    error: ExchangeError


@dataclass(slots=True)
class _Command:
    name: str
    arg: Any
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(slots=True)
class _Crashed:
    error: BaseException


_Msg = _Exec | _Synced | _Down | _AuthLost | _Command | _Crashed


class Bot:
    """The trading loop of one user. Everything that changes state runs in the single driver task."""

    def __init__(self, user: UserConfig, settings: GlobalConfig, store: Store, credentials: Credentials,
                 machine: Machine, *, clock: Clock | None = None, notify: Notify | None = None,
                 metrics: MetricsSink | None = None, price_feeds: PriceFeeds | None = None) -> None:
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
        self.log = logger.bind(user=user.name, cycle="-")
        self.cycle = Cycle(on_change=self._on_transition)
        self._changes: list[tuple[str, str, str]] = []
        self.orders = CycleOrders()
        self.cycle_row: CycleRow | None = None
        self.inbox: asyncio.Queue[_Msg] = asyncio.Queue()
        self.paused_reason: str | None = None
        self.token: Token | None = None
        self.filters: SymbolFilters | None = None
        self.symbol = ""
        self.last_trade: AggTrade | None = None
        self.last_trade_at: float | None = None
        self.window = PriceWindow(user.volatility_window_s)
        self.stream_up = False  # user stream subscribed AND reconciled
        self.down_since: float | None = self.clock.monotonic()
        self.market: MarketStream | None = None
        self.user_stream: UserStream | None = None
        self.rest: AlphaRest | None = None
        self._deadline: float | None = None  # the current state's timer (monotonic)
        self._poll_at = 0.0
        self._retry_at: float | None = None  # wake-up after a transient exchange error
        self._cancelling: str | None = None  # which leg a cancelling cycle is cancelling: working | pending
        self._rung = 0
        self._settle_misses = 0
        self._quote_free: Decimal | None = None
        self._balance_at = -1e9
        self._day = ""
        self._volume_today = Decimal(0)
        self._target_volume = Decimal(0)
        self._cycles_today = 0
        self._last_refusal: str | None = None
        self._next_cfg: UserConfig | None = None
        self._fill_received: float | None = None  # when the frame that completed the last cycle was read
        self._planned_wait = 0.0  # the deliberate pause between that fill and the next OTO
        self._done_from: tuple[str, str] | None = None  # the transition into `done`, persisted by _close_cycle
        self.latencies: deque[float] = deque(maxlen=100_000)  # fill frame read → next request written (s)
        self.cycles_completed = 0
        self._creds_changed = asyncio.Event()
        self._stopping = False

    # ================================================================== lifecycle

    async def run(self) -> None:
        """Trade until stopped; raises only on an unexpected error (the supervisor restarts the bot)."""
        timeout = aiohttp.ClientTimeout(total=self.rel.rest_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.rest = AlphaRest(session, self.settings.exchange.rest_url, self.credentials,
                                  limiter=RateLimiter(self.rel.requests_per_second, self.rel.request_burst),
                                  timeout_s=self.rel.rest_timeout_s, retries=self.rel.rest_retries,
                                  logger=self.log, on_latency=self._rest_latency if self.metrics else None)
            await self.store.ensure_user(self.name, self.clock.time_ms())
            await self._restore()
            try:
                await self._bootstrap()
            except BotProblem as exc:
                await self._pause(exc.reason, str(exc))
            except AuthExpired as exc:
                await self._pause(AUTH_EXPIRED, self._auth_help(exc))
            tasks: list[asyncio.Task[None]] = []
            if self.filters is not None:
                if self.price_feeds is not None:
                    self.market = self.price_feeds.subscribe(self.symbol, self._on_trade)
                else:
                    self.market = MarketStream(session, self.settings.exchange.market_ws_url, self.symbol,
                                               self._on_trade, ping_interval_s=self.rel.ws_ping_interval_s,
                                               stale_after_s=self.rel.market_stale_after_s,
                                               backoff_max_s=self.rel.ws_backoff_max_s, logger=self.log)
                self.user_stream = UserStream(session, self.settings.exchange.user_ws_url, self.rest,
                                              on_event=self._on_event, on_synced=self._on_synced,
                                              on_down=self._on_down, renew_every_s=self.rel.listen_key_renew_s,
                                              ping_interval_s=self.rel.ws_ping_interval_s,
                                              backoff_max_s=self.rel.ws_backoff_max_s, logger=self.log)
                tasks = [asyncio.create_task(self._guard(self._user_stream_loop), name=f"{self.name}-user")]
                if self.price_feeds is None:
                    tasks.append(asyncio.create_task(self._guard(self.market.run), name=f"{self.name}-market"))
            try:
                await self._drive()
            finally:
                if self.price_feeds is not None:
                    self.price_feeds.unsubscribe(self.symbol, self._on_trade)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                detach(self.machine, self.cycle)

    async def stop(self) -> None:
        """Graceful stop: no new cycle; a working BUY not yet filled is cancelled; the rest waits on the book."""
        await self._command("stop", None)

    async def pause(self, reason: str = OPERATOR) -> dict[str, Any]:
        result: dict[str, Any] = await self._command("pause", reason)
        return result

    async def resume(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._command("resume", None)
        return result

    def set_credentials(self, credentials: Credentials) -> None:
        self.credentials = credentials
        if self.rest is not None:
            self.rest.credentials = credentials
        self._creds_changed.set()

    def update_config(self, cfg: UserConfig) -> None:
        """A reloaded file: applied at the next cycle boundary (never in the middle of an OTO)."""
        self._next_cfg = cfg

    async def _command(self, name: str, arg: Any) -> Any:
        cmd = _Command(name, arg)
        await self.inbox.put(cmd)
        return await cmd.done

    async def _guard(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run a stream task; an unexpected error reaches the driver so the whole bot restarts cleanly."""
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self.inbox.put(_Crashed(exc))

    async def _user_stream_loop(self) -> None:
        assert self.user_stream is not None
        while True:
            try:
                await self.user_stream.run()
                return
            except (AuthExpired, RiskChallenge) as exc:
                await self.inbox.put(_AuthLost(exc))
                # No retry loop against dead cookies: wait for new credentials (ctl resume / reload).
                await self._creds_changed.wait()
                self._creds_changed.clear()

    # ================================================================== stream callbacks

    def _on_trade(self, trade: AggTrade) -> None:
        now = self.clock.monotonic()
        self.last_trade = trade
        self.last_trade_at = now
        self.window.add(now, trade.price)

    async def _on_event(self, report: ExecutionReport) -> None:
        received = getattr(self.user_stream, "last_receive_monotonic", None) or self.clock.monotonic()
        self.inbox.put_nowait(_Exec(report, received))

    async def _on_synced(self) -> None:
        # The stream buffers events until this returns: reconciliation sees REST first, then the replay.
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(_Synced(fut))
        await fut

    async def _on_down(self) -> None:
        self.inbox.put_nowait(_Down())

    # ================================================================== the driver

    async def _drive(self) -> None:
        while True:
            if self._stopping:
                await self._shutdown()
                return
            await self._guarded(self._advance())
            wake = self._next_wake()
            try:
                if wake is None:
                    msg = await self.inbox.get()
                else:
                    async with asyncio.timeout(max(0.0, wake - self.clock.monotonic())):
                        msg = await self.inbox.get()
            except TimeoutError:
                continue
            await self._guarded(self._handle(msg))
            while not self.inbox.empty() and not self._stopping:
                await self._guarded(self._handle(self.inbox.get_nowait()))

    async def _guarded(self, step: Awaitable[None]) -> None:
        """A REST failure mid-step is a reason to look again shortly, not to crash: state lives in SQLite and
        on the exchange, and the next step starts by reading them. Session problems pause the user."""
        try:
            await step
        except (AuthExpired, RiskChallenge) as exc:
            await self._pause(RISK_CHALLENGE if isinstance(exc, RiskChallenge) else AUTH_EXPIRED, self._auth_help(exc))
        except ExchangeError as exc:
            retry = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else REFUSAL_RETRY_S
            self.log.warning("Exchange error in state {} ({}); trying again in {:.1f} s", self.cycle.state, exc, retry)
            self._retry_at = self.clock.monotonic() + retry  # a wake-up only: the state's own timer is kept

    def _next_wake(self) -> float | None:
        wakes = [w for w in (self._deadline, self._retry_at) if w is not None]
        if not self.stream_up and self.cycle.state in LIVE_STATES:
            wakes.append(self._poll_at)
        if not self.stream_up and self.down_since is not None and self.paused_reason is None:
            wakes.append(self.down_since + self.rel.disconnect_grace_s)
        if self.cycle.state in ("finished", "idle"):
            wakes.append(self.clock.monotonic() + 30.0)  # day rollover and reloads are noticed within 30 s
        return min(wakes) if wakes else None

    async def _handle(self, msg: _Msg) -> None:
        if isinstance(msg, _Exec):
            await self._on_report(msg.report, msg.received)
        elif isinstance(msg, _Synced):
            try:
                await self._reconcile("user stream (re)subscribed")
                self.stream_up = True
                self.down_since = None
                if self.paused_reason == DISCONNECTED and self.rel.resume_after_reconnect:
                    await self._resume("reconnected and reconciled")
            except ExchangeError as exc:
                self.log.warning("Reconciliation after subscribe failed ({}); nothing is placed until it succeeds",
                                 exc)
                self._poll_at = self.clock.monotonic() + self.rel.rest_poll_s
            finally:
                if not msg.done.done():
                    msg.done.set_result(None)
        elif isinstance(msg, _Down):
            if self.stream_up:
                self.log.warning("User-data stream lost; placing nothing new, following the cycle over REST")
            self.stream_up = False
            self.down_since = self.down_since or self.clock.monotonic()
            self._poll_at = self.clock.monotonic()
            self._metric("inc", "ws_reconnects_total", 1.0, stream="user")
        elif isinstance(msg, _AuthLost):
            self.stream_up = False
            reason = RISK_CHALLENGE if isinstance(msg.error, RiskChallenge) else AUTH_EXPIRED
            await self._pause(reason, self._auth_help(msg.error))
        elif isinstance(msg, _Command):
            await self._run_command(msg)
        elif isinstance(msg, _Crashed):
            raise msg.error

    async def _run_command(self, cmd: _Command) -> None:
        try:
            if cmd.name == "stop":
                self._stopping = True
                result: Any = None
            elif cmd.name == "pause":
                await self._pause(str(cmd.arg), "paused by the operator")
                result = self.status()
            elif cmd.name == "resume":
                await self._resume("resumed by the operator")
                result = self.status()
            else:
                raise ValueError(f"unknown command {cmd.name!r}")
            if not cmd.done.done():
                cmd.done.set_result(result)
        except Exception as exc:
            if not cmd.done.done():
                cmd.done.set_exception(exc)

    async def _advance(self) -> None:
        """Do what the current state and the clock call for. Called after every message and timer."""
        now = self.clock.monotonic()
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
        await self._follow_facts("stream")
        if not self.stream_up and self.cycle.state in LIVE_STATES and now >= self._poll_at:
            self._poll_at = now + self.rel.rest_poll_s
            with contextlib.suppress(ExchangeError):
                await self._refresh_orders("user stream down: following the cycle over REST")
                await self._follow_facts("REST poll")
        if (not self.stream_up and self.down_since is not None and self.paused_reason is None
                and now - self.down_since >= self.rel.disconnect_grace_s):
            await self._pause(DISCONNECTED, f"user-data stream down for {now - self.down_since:.0f} s "
                              f"(grace {self.rel.disconnect_grace_s:.0f} s)")
        # A step may lead straight into a state that acts at once (cancelled → done → idle → place).
        for _ in range(8):
            before = (self.cycle.state, self._deadline)
            await self._step(self.clock.monotonic())
            if (self.cycle.state, self._deadline) == before:
                break

    async def _step(self, now: float) -> None:
        state = self.cycle.state
        due = self._deadline is not None and now >= self._deadline
        if state == "idle":
            await self._idle(due or self._deadline is None)
        elif state == "placing":
            # Only after a restart: the place request's fate is unknown until the exchange is asked.
            if self.stream_up or due or self._deadline is None:
                await self._fire("outcome_unknown", "restarted while the place request was in flight")
                self._deadline = now
        elif state == "reconciling" and due:
            await self._settle_place()
        elif state in ("pending", "partially_filled") and due:
            await self._start_cancel("working", "buy_timeout", f"BUY not filled within {self.cfg.buy_timeout_s} s")
        elif state == "selling" and due:
            await self._start_cancel("pending", "sell_timeout", f"SELL not filled within {self.cfg.sell_timeout_s} s")
        elif state == "cancelling" and due:
            await self._recheck_cancel()
        elif state == "cancelled":
            await self._after_cancel()
        elif state == "unwinding":
            await self._unwind_step(due)
        elif state == "done":
            await self._close_cycle()
        elif state == "paused" and self.paused_reason is None:
            await self._fire("resume", "pause cleared")
        elif state == "finished" and self._roll_day():
            await self._fire("new_day", f"new UTC day {self._day}")

    async def _follow_facts(self, why: str) -> None:
        while (trigger := next_trigger(self.cycle.state, self.orders, self._cancelling)) is not None:
            await self._fire(trigger, f"{FACT_REASONS.get(trigger, trigger)} ({why})")

    # ================================================================== transitions

    def _on_transition(self, frm: str, to: str, reason: str) -> None:
        self._changes.append((frm, to, reason))

    async def _fire(self, trigger: str, reason: str, *, persist: bool = True) -> bool:
        ok = bool(self.cycle.trigger(trigger, reason=reason))
        now_ms = self.clock.time_ms()
        for frm, to, why in self._changes:
            cid = self.cycle_row.id if self.cycle_row else None
            self.log.bind(cycle=cid or "-").info("{} → {}: {}", frm, to, why)
            self._entered(to)
            if not persist:
                continue
            if to == "done" and self.cycle_row is not None:
                self._done_from = (frm, why)  # written with the cycle's close, one transaction (hot path)
                continue
            if self.cycle_row is not None and frm != "done":
                await self.store.set_cycle_state(self.cycle_row.id, self.name, frm, to, why, now_ms,
                                                 closed=to in ("done", "idle"))
            else:
                await self.store.audit(now_ms, self.name, "transition", why, frm=frm, to=to)
        self._changes.clear()
        return ok

    def _entered(self, state: str) -> None:
        now = self.clock.monotonic()
        if state == "pending":
            self._deadline = now + self.cfg.buy_timeout_s
        elif state == "selling":
            self._deadline = now + self.cfg.sell_timeout_s
        elif state == "cancelling":
            self._deadline = now + CANCEL_CHECK_S
        elif state == "reconciling":
            self._deadline = now + self.rel.unknown_settle_s
            self._settle_misses = 0
        elif state in ("done", "cancelled", "paused", "finished"):
            self._deadline = None
        elif state == "idle":
            self._deadline = now + self.cfg.pause_between_cycles_s
        # partially_filled keeps the BUY deadline; unwinding sets its own per rung.

    # ================================================================== idle: maybe place

    async def _idle(self, due: bool) -> None:
        if self.paused_reason is not None:
            await self._fire("pause", self.paused_reason)
            return
        if self._next_cfg is not None:
            self._apply_config(self._next_cfg)
        self._roll_day()
        if self._volume_today >= self._target_volume:
            self._notify("target_reached", f"today's target reached: {fmt(self._volume_today)} {self.cfg.quote} "
                         f"bought (target {fmt(self._target_volume)})")
            await self._fire("target_reached", f"bought {fmt(self._volume_today)} of {fmt(self._target_volume)}")
            return
        if not due or self.filters is None:
            return
        await self._place()

    def _apply_config(self, cfg: UserConfig) -> None:
        self.log.info("Applying reloaded settings at the cycle boundary")
        if cfg.volatility_window_s != self.cfg.volatility_window_s:
            self.window = PriceWindow(cfg.volatility_window_s)
        self.cfg = cfg
        self._next_cfg = None
        self._update_target()

    async def _place_facts(self) -> PlaceFacts:
        now = self.clock.monotonic()
        if self._quote_free is None or now - self._balance_at > BALANCE_MAX_AGE_S:
            assert self.rest is not None
            bal = await self.rest.quote_balance(self.cfg.quote)
            self._quote_free, self._balance_at, self._wallet = bal.free, now, bal
        free = self._quote_free or Decimal(0)
        return PlaceFacts(
            paused_reason=self.paused_reason,
            live_orders=self.orders.live_count(),
            user_stream_up=self.stream_up,
            price_age_s=None if self.last_trade_at is None else now - self.last_trade_at,
            max_price_age_s=self.cfg.max_price_age_s,
            move_pct=float(self.window.move_pct(now)),
            max_move_pct=float(self.cfg.volatility_max_pct),
            volume_today=fmt(self._volume_today),
            target_reached=self._volume_today >= self._target_volume,
            balance_free=fmt(free),
            balance_ok=free - self.cfg.min_quote_reserve >= self.cfg.order_quote_amount,
        )

    async def _place(self) -> None:
        assert self.rest is not None and self.filters is not None and self.token is not None
        try:
            self.cycle.facts = await self._place_facts()
        except (AuthExpired, RiskChallenge) as exc:
            await self._pause(AUTH_EXPIRED, self._auth_help(exc))
            return
        except ExchangeError as exc:
            self.log.warning("Could not read the {} balance ({}); trying again shortly", self.cfg.quote, exc)
            self._deadline = self.clock.monotonic() + REFUSAL_RETRY_S
            return
        refusal = self.cycle.refusal()
        if refusal is not None and self.cycle.not_paused() and not self.cycle.balance_ok() \
                and self.cycle.user_stream_up() and self.cycle.target_open():
            self._quote_free = None
            hint = self._wallet.shortfall_hint(self.cfg.order_quote_amount + self.cfg.min_quote_reserve) or refusal
            await self._pause(INSUFFICIENT_BALANCE, f"{hint}: top up {self.cfg.quote} or lower "
                              f"order.quote_amount in {self.cfg.path}, then `otobot ctl resume {self.name}`")
            return
        if refusal is not None:
            if refusal != self._last_refusal:
                self.log.info("Not placing: {}", refusal)
                self._last_refusal = refusal
            self._deadline = self.clock.monotonic() + REFUSAL_RETRY_S
            return
        self._last_refusal = None
        assert self.last_trade is not None
        try:
            order = strategy.oto_order(self.last_trade.price, self.cfg.pricing, self.cfg.order_quote_amount,
                                       self.filters)
        except (FilterError, ValueError) as exc:
            await self._pause(CONFIG, f"the order the settings ask for is invalid: {exc}; edit "
                              f"{self.cfg.path} (order.quote_amount or pricing) and send SIGHUP")
            return
        now_ms = self.clock.time_ms()
        # Write before send: the intent is in SQLite before the request can create anything.
        cycle_id, working_row, pending_row = await self.store.create_cycle(
            user=self.name, day=self._day, symbol=self.symbol, base_asset=self.token.alpha_id,
            quote_asset=self.cfg.quote, mul_point=self.token.mul_point, working_price=order.working_price,
            pending_price=order.pending_price, quantity=order.quantity, pay_amount=order.pay_amount, now_ms=now_ms)
        self.cycle_row = CycleRow(
            id=cycle_id, user=self.name, day=self._day, symbol=self.symbol, base_asset=self.token.alpha_id,
            quote_asset=self.cfg.quote, mul_point=self.token.mul_point, state="placing", reason=None,
            working_price=order.working_price, pending_price=order.pending_price, quantity=order.quantity,
            pay_amount=order.pay_amount, intent_ms=now_ms, placed_ms=None, closed_ms=None, order_list_id=None)
        self.orders = CycleOrders(
            working=TrackedOrder(row_id=working_row, role="working", order_id=None, side="BUY",
                                 price=order.working_price, quantity=order.quantity, status="INTENT", intent_ms=now_ms),
            pending=TrackedOrder(row_id=pending_row, role="pending", order_id=None, side=SELL,
                                 price=order.pending_price, quantity=Decimal(0), status="INTENT", intent_ms=now_ms))
        self.log = logger.bind(user=self.name, cycle=cycle_id)
        await self._fire("place", f"BUY {fmt(order.quantity)} @ {fmt(order.working_price)}, "
                         f"SELL @ {fmt(order.pending_price)} (last {fmt(self.last_trade.price)})", persist=False)
        self._mark_reaction()
        try:
            placed = await self.rest.place_oto(self.token.alpha_id, self.cfg.quote, order)
        except UnknownOutcome as exc:
            self._metric("inc", "orders_failed_total", 1.0, reason="unknown_outcome")
            await self._fire("outcome_unknown", f"place request outcome unknown ({exc}); asking the exchange")
            return
        except ExchangeError as exc:
            self._metric("inc", "orders_failed_total", 1.0, reason=type(exc).__name__)
            await self._place_refused(exc)
            return
        self._metric("inc", "orders_placed_total", 1.0)
        assert self.orders.working is not None and self.orders.pending is not None
        self.orders.working.order_id = placed.working_order_id
        self.orders.pending.order_id = placed.pending_order_id
        self.orders.working.status = merge_status(self.orders.working.status, "NEW")
        self.orders.pending.status = merge_status(self.orders.pending.status, "PENDING")
        reason = f"working {placed.working_order_id}, pending {placed.pending_order_id}"
        # The ids and the new state go to SQLite in one transaction.
        await self.store.attach_oto(cycle_id, placed.working_order_id, placed.pending_order_id, None,
                                    self.clock.time_ms(), transition=(self.name, "placing", "pending", reason))
        await self._fire("placed", reason, persist=False)

    async def _place_refused(self, exc: ExchangeError) -> None:
        """The exchange refused the OTO, so nothing exists: the intent is closed, the reason decides what next."""
        for o in self.orders.all():
            await self.store.drop_intent(o.row_id, str(exc), self.clock.time_ms())
            o.status = "NOT_PLACED"
        await self._fire("place_failed", f"place refused: {exc}")
        self._clear_cycle()
        if isinstance(exc, RateLimited):
            self._deadline = self.clock.monotonic() + (exc.retry_after or 5.0)
        elif isinstance(exc, InsufficientBalance):
            self._quote_free = None
            await self._pause(INSUFFICIENT_BALANCE, f"the exchange says the balance is insufficient ({exc}); "
                              f"top up {self.cfg.quote} or lower order.quote_amount, then `otobot ctl resume "
                              f"{self.name}`")
        elif isinstance(exc, AuthExpired | RiskChallenge):
            await self._pause(RISK_CHALLENGE if isinstance(exc, RiskChallenge) else AUTH_EXPIRED,
                              self._auth_help(exc))
        elif exc.code is not None:  # a business error: never retried blindly
            await self._pause(REJECTED, f"the exchange rejected the order ({exc}); check {self.cfg.path}")
        else:  # could not even connect: nothing was sent
            self._deadline = self.clock.monotonic() + 5.0

    # ================================================================== events → facts

    async def _on_report(self, r: ExecutionReport, received: float) -> None:
        tracked = self.orders.by_id(r.order_id)
        if tracked is None:
            # Not the cycle in flight: a late event of an earlier cycle still counts once for accounting.
            if r.cum_qty > 0:
                await self.store.apply_fill(self._fill(None, r.order_id, r.side, r.last_price, r.cum_qty, r.cum_quote,
                                                       r.last_qty, r.commission, r.commission_asset,
                                                       r.transact_time_ms, "ws", r.status, None))
            return
        await self._update(tracked, status=r.status, cum_qty=r.cum_qty, cum_quote=r.cum_quote,
                                    orig_qty=r.orig_qty, last_price=r.last_price, last_qty=r.last_qty,
                                    commission=r.commission, commission_asset=r.commission_asset,
                                    time_ms=r.transact_time_ms or self.clock.time_ms(), source="ws")
        if r.status == FILLED and tracked.role in ("pending", "unwind"):
            # The fill that ends a cycle: the next request (the next OTO) is the reaction the bench measures.
            self._fill_received = received

    def _fill(self, cycle_id: int | None, order_id: str, side: str, price: Decimal, cum_qty: Decimal,
              cum_quote: Decimal, last_qty: Decimal, commission: Decimal, commission_asset: str, time_ms: int,
              source: str, status: str | None, quantity: Decimal | None) -> Fill:
        return Fill(user=self.name, cycle_id=cycle_id, order_id=order_id, side=side, price=price, cum_qty=cum_qty,
                    cum_quote=cum_quote, last_qty=last_qty, commission=commission, commission_asset=commission_asset,
                    time_ms=time_ms, day=points.utc_day(time_ms), source=source, status=status, quantity=quantity)

    async def _update(self, o: TrackedOrder, *, status: str, cum_qty: Decimal, cum_quote: Decimal, orig_qty: Decimal,
                      last_price: Decimal, last_qty: Decimal, commission: Decimal, commission_asset: str,
                      time_ms: int, source: str) -> bool:
        """Merge one observation of an order (stream event or REST row). Returns True if it added a fill."""
        assert o.order_id is not None
        new_status = merge_status(o.status, status)
        new_qty = orig_qty if o.role == "pending" and orig_qty > 0 and orig_qty != o.quantity else None
        added = False
        if cum_qty > o.cum_qty:
            applied = await self.store.apply_fill(self._fill(
                self.cycle_row.id if self.cycle_row else None, o.order_id, o.side, last_price, cum_qty, cum_quote,
                last_qty, commission, commission_asset, time_ms, source, new_status, new_qty))
            if applied is not None:
                added = True
                o.cum_qty = cum_qty
                o.cum_quote = max(cum_quote, o.cum_quote)
                o.fee += applied.commission
                o.fee_asset = commission_asset or o.fee_asset
                self._count_fill(o.side, applied.quote_qty, time_ms)
                if source == "rest":
                    self.log.info("Backfilled a fill missed on the stream: order {} +{} (now {})", o.order_id,
                                  fmt(applied.qty), fmt(cum_qty))
        elif new_status != o.status or new_qty is not None:
            await self.store.set_order_status(o.order_id, new_status, self.clock.time_ms(), new_qty)
        o.status = new_status
        if new_qty is not None:
            o.quantity = new_qty
        return added

    def _count_fill(self, side: str, quote_qty: Decimal, time_ms: int) -> None:
        self._metric("inc", "fills_total", 1.0)
        if side == "BUY" and points.utc_day(time_ms) == self._day:
            self._volume_today += quote_qty
            self._metric("set", "volume_quote", float(self._volume_today))  # a gauge for Prometheus only

    async def _update_from_rest(self, o: TrackedOrder, row: Order) -> bool:
        return await self._update(o, status=row.status, cum_qty=row.executed_qty, cum_quote=row.cum_quote,
                                  orig_qty=row.orig_qty, last_price=row.price, last_qty=Decimal(0),
                                  commission=Decimal(0), commission_asset="",
                                  time_ms=row.update_time_ms or self.clock.time_ms(), source="rest")

    # ================================================================== reconciliation

    async def _snapshot(self, since_ms: int) -> dict[str, Order]:
        """Every order of ours on the symbol since `since_ms`: open ones and history, newest row per id."""
        assert self.rest is not None and self.token is not None
        open_orders = await self.rest.open_orders(self.symbol)
        history = await self.rest.history_all(since_ms - CLOCK_SKEW_MS, self.clock.time_ms() + CLOCK_SKEW_MS,
                                              self.token.alpha_id)
        return latest_by_id([*history, *open_orders])

    async def _refresh_orders(self, why: str) -> dict[str, Order]:
        if self.cycle_row is None:
            return {}
        snap = await self._snapshot(self.cycle_row.intent_ms)
        for o in self.orders.all():
            if o.order_id is not None and o.order_id in snap:
                await self._update_from_rest(o, snap[o.order_id])
        self.log.debug("Refreshed the cycle's orders over REST ({})", why)
        return snap

    async def _reconcile(self, why: str) -> None:
        """Bring memory and SQLite in line with the exchange before anything new happens."""
        if self.cycle_row is None:
            await self._report_strays(why)
            return
        state = self.cycle.state
        if state in ("placing", "reconciling"):
            if state == "placing":
                await self._fire("outcome_unknown", "the place request's outcome is unknown after a restart")
            self._deadline = self.clock.monotonic()  # settle now; a miss waits settle_s and looks again
            return
        await self._refresh_orders(why)
        await self._follow_facts(f"reconciled ({why})")
        await self.store.audit(self.clock.time_ms(), self.name, "reconcile", why, cycle_id=self.cycle_row.id,
                               to=self.cycle.state)

    async def _report_strays(self, why: str) -> None:
        """Open orders on our symbol that SQLite never heard of: a request the exchange applied after we had
        settled it as not placed, or the user's own manual order. Reported loudly, never touched."""
        if self.rest is None or not self.symbol:
            return
        open_orders = await self.rest.open_orders(self.symbol)
        claimed = await self.store.claimed_order_ids(o.order_id for o in open_orders)
        for o in open_orders:
            if o.order_id not in claimed:
                text = (f"open order {o.order_id} ({o.side} {fmt(o.orig_qty)} @ {fmt(o.price)}) on {self.symbol} is "
                        "not one of otobot's; if you did not place it by hand, cancel it on the exchange")
                self.log.warning("Untracked order found while reconciling ({}): {}", why, text)
                await self.store.audit(self.clock.time_ms(), self.name, "stray", text)

    async def _settle_place(self) -> None:
        """A place request whose answer was lost: adopt the OTO if the exchange has it, else close the intent."""
        assert self.cycle_row is not None
        row = self.cycle_row
        try:
            snap = await self._snapshot(row.intent_ms)
        except ExchangeError as exc:
            # A failed lookup proves nothing: never "not found" from a network error.
            self.log.warning("Could not look up the lost OTO yet ({}); retrying", exc)
            self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
            return
        claimed = await self.store.claimed_order_ids(snap)
        found = match_oto(symbol=row.symbol, working_price=row.working_price, quantity=row.quantity,
                          intent_ms=row.intent_ms, orders=snap.values(), claimed=claimed)
        if found is None:
            self._settle_misses += 1
            if self._settle_misses < SETTLE_LOOKUPS:
                self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
                return
            for o in self.orders.all():
                await self.store.drop_intent(o.row_id, "not on the exchange", self.clock.time_ms())
                o.status = "NOT_PLACED"
            await self._fire("not_placed", f"the exchange has no such OTO after {self._settle_misses} lookups")
            self._clear_cycle()
            return
        working, pending = found
        if pending is None:  # the pending leg may be listed only once active; the list id finds it later
            pending_id = next((o.order_id for o in snap.values() if o.order_list_id == working.order_list_id
                               and o.order_id != working.order_id), None)
        else:
            pending_id = pending.order_id
        if pending_id is None:
            self.log.warning("Found working order {} but not its pending leg yet; looking again", working.order_id)
            self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
            return
        await self.store.attach_oto(row.id, working.order_id, pending_id, working.order_list_id,
                                    self.clock.time_ms(), adopted=True)
        assert self.orders.working is not None and self.orders.pending is not None
        self.orders.working.order_id, self.orders.pending.order_id = working.order_id, pending_id
        self.orders.working.status, self.orders.pending.status = "NEW", "PENDING"
        await self._fire("adopted", f"the lost request did place it: working {working.order_id}, "
                         f"pending {pending_id} (adopted, not placed again)")
        await self._update_from_rest(self.orders.working, working)
        if pending is not None:
            await self._update_from_rest(self.orders.pending, pending)

    # ================================================================== cancelling and unwinding

    async def _start_cancel(self, role: str, trigger: str, reason: str) -> None:
        self._cancelling = role
        await self._fire(trigger, reason)
        target = self.orders.working if role == "working" else self.orders.pending
        if target is not None:
            await self._send_cancel(target)

    async def _send_cancel(self, o: TrackedOrder) -> None:
        assert self.rest is not None
        if o.order_id is None or not o.live:
            return
        try:
            await self.rest.cancel(self.symbol, o.order_id)
        except OrderNotFound:
            # Already final (filled or cancelled): the stream or REST tells which.
            with contextlib.suppress(ExchangeError):
                await self._refresh_orders(f"cancel of {o.order_id}: not open any more")
        except (AuthExpired, RiskChallenge) as exc:
            await self._pause(AUTH_EXPIRED, self._auth_help(exc))
        except ExchangeError as exc:
            self.log.warning("Cancel of order {} failed ({}); will check and retry", o.order_id, exc)

    async def _recheck_cancel(self) -> None:
        with contextlib.suppress(ExchangeError):
            await self._refresh_orders("cancel not yet confirmed")
        await self._follow_facts("cancel check")
        if self.cycle.state == "cancelling":
            for o in self.orders.all():
                if o.live and (o.role == self._cancelling or o.role == "working"):
                    await self._send_cancel(o)
            self._deadline = self.clock.monotonic() + CANCEL_CHECK_S

    async def _after_cancel(self) -> None:
        """The OTO ended early: cancel any leg the exchange left live, then sell what was bought."""
        leftovers = [o for o in self.orders.all() if o.live]
        if leftovers:
            if self._deadline is None or self.clock.monotonic() >= self._deadline:
                for o in leftovers:
                    await self._send_cancel(o)
                self._deadline = self.clock.monotonic() + CANCEL_CHECK_S
            return
        assert self.filters is not None
        if self.orders.working is not None and self.orders.working.cum_qty > 0:
            # Confirm the fills once over REST before deciding how much to sell: a late fill must count.
            with contextlib.suppress(ExchangeError):
                await self._refresh_orders("before unwinding")
        left = self.orders.leftover(self.filters.step_size)
        price = self.last_trade.price if self.last_trade else self.orders.working.price if self.orders.working \
            else Decimal(0)
        if left > 0 and sellable(left, price, self.filters):
            self._rung = 0
            await self._fire("unwind", f"{fmt(left)} {self.token.symbol if self.token else ''} bought, selling it")
            await self._place_unwind()
        else:
            why = "nothing was bought" if left == 0 else f"{fmt(left)} left is dust below the minimum order"
            await self._fire("close", why)

    async def _place_unwind(self) -> None:
        assert self.rest is not None and self.filters is not None and self.token is not None
        assert self.cycle_row is not None
        ladder = self.cfg.unwind.ladder_pct
        if self._rung >= len(ladder):
            left = self.orders.leftover(self.filters.step_size)
            await self._pause(UNWIND_FAILED, f"{fmt(left)} {self.token.symbol} could not be sold down the whole "
                              f"ladder {[fmt(x) for x in ladder]} %; sell it by hand or widen unwind.ladder_pct, "
                              f"then `otobot ctl resume {self.name}`")
            self._deadline = None
            return
        left = self.orders.leftover(self.filters.step_size)
        last = self.last_trade.price if self.last_trade else self.cycle_row.working_price
        try:
            order = build_limit(SELL, strategy.unwind_price(last, ladder[self._rung]), left, self.filters)
        except FilterError as exc:
            await self._fire("unwound", f"remaining {fmt(left)} cannot be sold ({exc})")
            return
        now_ms = self.clock.time_ms()
        row_id = await self.store.add_order_intent(user=self.name, cycle_id=self.cycle_row.id, role="unwind",
                                                   symbol=self.symbol, side=SELL, price=order.price,
                                                   quantity=order.quantity, now_ms=now_ms)
        tracked = TrackedOrder(row_id=row_id, role="unwind", order_id=None, side=SELL, price=order.price,
                               quantity=order.quantity, status="INTENT", intent_ms=now_ms)
        self.orders.unwinds.append(tracked)
        self._deadline = self.clock.monotonic() + self.cfg.unwind.rung_timeout_s
        self.log.info("Unwind rung {}: SELL {} @ {} ({} % under last {})", self._rung + 1, fmt(order.quantity),
                      fmt(order.price), fmt(ladder[self._rung]), fmt(last))
        self._mark_reaction()
        try:
            order_id = await self.rest.place_limit(self.token.alpha_id, self.cfg.quote, order)
        except UnknownOutcome as exc:
            self.log.warning("Unwind SELL outcome unknown ({}); settling before anything else", exc)
            self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
            return
        except ExchangeError as exc:
            await self.store.drop_intent(row_id, str(exc), self.clock.time_ms())
            tracked.status = "NOT_PLACED"
            if isinstance(exc, AuthExpired | RiskChallenge):
                await self._pause(AUTH_EXPIRED, self._auth_help(exc))
            elif exc.code is not None:
                await self._pause(UNWIND_FAILED, f"the exchange refused the unwind SELL ({exc}); sell "
                                  f"{fmt(left)} {self.token.symbol} by hand, then `otobot ctl resume {self.name}`")
            return
        await self.store.attach_order(row_id, order_id, self.clock.time_ms())
        tracked.order_id = order_id
        tracked.status = merge_status(tracked.status, "NEW")

    async def _unwind_step(self, due: bool) -> None:
        u = self.orders.unwind
        if self.paused_reason == UNWIND_FAILED:
            return
        if u is None or (u.final and u.status != FILLED):
            if u is not None:
                self._rung += 1
            await self._place_unwind()
        elif u.order_id is None and u.status == "INTENT" and due:
            await self._settle_unwind(u)
        elif u.live and due:
            await self._send_cancel(u)
            self._deadline = self.clock.monotonic() + CANCEL_CHECK_S

    async def _settle_unwind(self, u: TrackedOrder) -> None:
        assert self.cycle_row is not None
        try:
            snap = await self._snapshot(u.intent_ms)
        except ExchangeError:
            self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
            return
        claimed = await self.store.claimed_order_ids(snap)
        found = match_limit(symbol=self.symbol, side=SELL, price=u.price, quantity=u.quantity,
                            intent_ms=u.intent_ms, orders=snap.values(), claimed=claimed)
        if found is not None:
            await self.store.attach_order(u.row_id, found.order_id, self.clock.time_ms())
            u.order_id, u.status = found.order_id, "NEW"
            await self.store.audit(self.clock.time_ms(), self.name, "adopt", f"adopted unwind SELL {found.order_id}",
                                   cycle_id=self.cycle_row.id)
            await self._update_from_rest(u, found)
            self._deadline = self.clock.monotonic() + self.cfg.unwind.rung_timeout_s
            return
        self._settle_misses += 1
        if self._settle_misses < SETTLE_LOOKUPS:
            self._deadline = self.clock.monotonic() + self.rel.unknown_settle_s
            return
        self._settle_misses = 0
        await self.store.drop_intent(u.row_id, "not on the exchange", self.clock.time_ms())
        u.status = "NOT_PLACED"
        self._rung -= 1  # the same rung again: it never reached the book

    # ================================================================== closing, pausing, bookkeeping

    async def _close_cycle(self) -> None:
        assert self.cycle_row is not None
        row = self.cycle_row
        bought = self.orders.working.cum_quote if self.orders.working else Decimal(0)
        sold = sum((o.cum_quote for o in self.orders.all() if o.side == SELL), Decimal(0))
        frm, why = self._done_from or ("done", "closed")
        self._done_from = None
        await self.store.close_cycle(row.id, self.name, row.day, frm, why, self.clock.time_ms(),
                                     "ready for the next cycle")
        self._cycles_today += 1
        self.cycles_completed += 1
        self._metric("observe", "cycle_seconds", max(0.0, (self.clock.time_ms() - row.intent_ms) / 1000))
        self.log.bind(cycle=row.id).info("Cycle closed: bought {} {q}, sold {} {q}, result {} {q}", fmt(bought),
                                         fmt(sold), fmt(sold - bought), q=self.cfg.quote)
        if self._quote_free is not None:
            self._quote_free += sold - bought  # the cached balance follows the cycle; refreshed every 30 s
        self._clear_cycle()
        self._planned_wait = self.cfg.pause_between_cycles_s
        await self._fire("next", "ready for the next cycle", persist=False)  # audited by close_cycle

    def _clear_cycle(self) -> None:
        self.cycle_row = None
        self.orders = CycleOrders()
        self._cancelling = None
        self.log = logger.bind(user=self.name, cycle="-")

    def _mark_reaction(self) -> None:
        """Fill frame read → this request about to be written, less the configured pause between cycles."""
        if self._fill_received is not None:
            waited = self.clock.monotonic() - self._fill_received - self._planned_wait
            self.latencies.append(max(waited, 0.0))
            self._fill_received = None
        self._planned_wait = 0.0

    async def _pause(self, reason: str, detail: str) -> None:
        first = self.paused_reason != reason
        self.paused_reason = reason
        if first:
            self.log.warning("Paused ({}): {}", reason, detail)
            await self.store.set_pause(self.name, reason, self.clock.time_ms())
            kind = reason if reason in (AUTH_EXPIRED, RISK_CHALLENGE) else "paused"
            self._notify(kind, f"{self.name} paused ({reason}): {detail}")
        if self.cycle.state in ("idle", "done") and self.cycle_row is None:
            await self._fire("pause", reason)

    async def _resume(self, why: str) -> None:
        if self.paused_reason is None:
            return
        was = self.paused_reason
        self.paused_reason = None
        self._quote_free = None
        await self.store.set_pause(self.name, None, self.clock.time_ms())
        self.log.info("Resumed (was {}): {}", was, why)
        self._notify("resumed", f"{self.name} resumed ({why})")
        if was in (AUTH_EXPIRED, RISK_CHALLENGE):
            self._creds_changed.set()
        if self.cycle.state == "paused":
            await self._fire("resume", why)

    def _notify(self, kind: str, text: str) -> None:
        if self.notify is not None:
            self.notify(kind, self.name, text)

    def _rest_latency(self, path: str, seconds: float) -> None:
        self._metric("observe", "rest_latency_seconds", seconds, path=path)

    def _metric(self, op: str, name: str, value: float, **labels: str) -> None:
        if self.metrics is not None:
            getattr(self.metrics, op)(name, value, user=self.name, **labels)

    def _auth_help(self, exc: ExchangeError) -> str:
        if isinstance(exc, RiskChallenge):
            return (f"the exchange asks for a security verification ({exc}); otobot never answers it. Log in on "
                    f"binance.com, complete it, re-import cookies with `otobot creds import {self.name}`, then "
                    f"`otobot ctl resume {self.name}`")
        return (f"the session is logged out ({exc}). Capture a fresh 'Copy as cURL' of an Alpha order, run "
                f"`otobot creds import {self.name}` (or edit the inline credentials), then "
                f"`otobot ctl resume {self.name}`")

    def _roll_day(self) -> bool:
        day = points.utc_day(self.clock.time_ms())
        if day == self._day:
            return False
        self._day = day
        self._volume_today = Decimal(0)
        self._cycles_today = 0
        return True

    def _update_target(self) -> None:
        mul = self.token.mul_point if self.token else 1
        self._target_volume = points.target_volume(self.cfg.target.kind, self.cfg.target.value, mul)

    # ================================================================== start-up

    async def _restore(self) -> None:
        """Rebuild memory from SQLite: the pause, today's volume, and the cycle a crash left in flight."""
        self._roll_day()
        day = await self.store.day_volume(self.name, self._day)
        self._volume_today, self._cycles_today = day.buy_quote, day.cycles
        reason = await self.store.pause_reason(self.name)
        if reason in TRANSIENT_PAUSES or reason in (AUTH_EXPIRED, RISK_CHALLENGE):
            # A condition, not a decision: start and check it again (fresh cookies may have been imported).
            await self.store.set_pause(self.name, None, self.clock.time_ms())
            self.log.info("Clearing the stored pause {!r} at start; it is checked again", reason)
        elif reason is not None:
            self.paused_reason = reason
        row = await self.store.live_cycle(self.name)
        state = "idle"
        if row is not None:
            await self._load_cycle(row.id)
            state = row.state
            w, p = self.orders.working, self.orders.pending
            buy_done = w is not None and (w.status == FILLED or (p is not None and p.status in ("NEW", "FILLED")))
            self._cancelling = "pending" if buy_done else "working"
            self.log.info("Resuming cycle {} in state {} (intent at {} ms); reconciling before acting", row.id,
                          row.state, row.intent_ms)
        elif self.paused_reason is not None:
            state = "paused"
        attach(self.machine, self.cycle, state)
        self._entered(state)

    async def _load_cycle(self, cycle_id: int) -> None:
        row = await self.store.cycle(cycle_id)
        assert row is not None
        self.cycle_row = row
        self.log = logger.bind(user=self.name, cycle=row.id)
        orders = CycleOrders()
        for r in await self.store.cycle_orders(cycle_id):
            t = _tracked(r)
            if r.role == "working":
                orders.working = t
            elif r.role == "pending":
                orders.pending = t
            else:
                orders.unwinds.append(t)
        self.orders = orders

    async def _bootstrap(self) -> None:
        """Resolve the token and its filters (cache first), so the first cycle needs no extra request."""
        assert self.rest is not None
        now_ms = self.clock.time_ms()
        cached = await self.store.token(self.cfg.token)
        if cached is None or now_ms - cached[1] > TOKEN_CACHE_MAX_AGE_MS:
            await self.store.put_tokens(await self.rest.token_list(), now_ms)
            cached = await self.store.token(self.cfg.token)
        if cached is None:
            raise BotProblem(CONFIG, f"token {self.cfg.token!r} in {self.cfg.path} (key 'token') is not an Alpha "
                             "token; run `otobot tokens` to list them and use an alias like KOGE or an alphaId")
        self.token = cached[0]
        if not self.token.tradable:
            raise BotProblem(CONFIG, f"token {self.token.symbol} ({self.token.alpha_id}) is not tradable now "
                             "(offline, sell-only or paused on the exchange); pick another in "
                             f"{self.cfg.path}")
        self.symbol = symbol_for(self.token.alpha_id, self.cfg.quote)
        filters = await self.store.symbol_filters(self.symbol)
        if filters is None or now_ms - filters[1] > FILTER_CACHE_MAX_AGE_MS:
            await self.store.put_symbols(await self.rest.exchange_info(), now_ms)
            filters = await self.store.symbol_filters(self.symbol)
        if filters is None:
            raise BotProblem(CONFIG, f"the exchange lists no symbol {self.symbol}: is {self.cfg.quote} a quote "
                             f"asset of {self.token.symbol}? (key 'quote' in {self.cfg.path})")
        self.filters = filters[0]
        self._update_target()
        self.log.info("Trading {} ({}) on {}: target {} {} bought today ({} so far), {} {} per cycle",
                      self.token.symbol, self.token.alpha_id, self.symbol, fmt(self._target_volume), self.cfg.quote,
                      fmt(self._volume_today), fmt(self.cfg.order_quote_amount), self.cfg.quote)

    async def _shutdown(self) -> None:
        """Stop placing; cancel a working BUY that has not filled; leave a live SELL to finish on the book."""
        if self.cycle.state in ("pending", "partially_filled"):
            self._cancelling = "working"
            await self._fire("buy_timeout", "shutting down: cancelling the unfilled BUY")
            if self.orders.working is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(3.0):
                        await self._send_cancel(self.orders.working)
        self.log.info("Stopped in state {}", self.cycle.state)

    # ================================================================== reporting

    def status(self) -> dict[str, Any]:
        target = self._target_volume
        pct = (self._volume_today / target * 100) if target else Decimal(0)
        remaining = max(target - self._volume_today, Decimal(0))
        per_cycle = self.cfg.order_quote_amount
        return {
            "user": self.name,
            "state": self.cycle.state,
            "paused": self.paused_reason,
            "token": self.token.symbol if self.token else self.cfg.token,
            "symbol": self.symbol,
            "day": self._day,
            "volume_today": fmt(self._volume_today),
            "target_volume": fmt(target),
            "pct_done": f"{pct:.1f}",
            "cycles_today": self._cycles_today,
            "cycles_left_est": int((remaining / per_cycle).to_integral_value(rounding="ROUND_CEILING"))
            if per_cycle else 0,
            "cycle_id": self.cycle_row.id if self.cycle_row else None,
            "user_stream": "up" if self.stream_up else "down",
            "market_stream": "up" if self.market is not None and self.market.connected else "down",
            "last_price": fmt(self.last_trade.price) if self.last_trade else None,
        }


def _tracked(r: OrderRow) -> TrackedOrder:
    return TrackedOrder(row_id=r.id, role=r.role, order_id=r.order_id, side=r.side, price=r.price,
                        quantity=r.quantity, status=r.status, cum_qty=r.cum_qty, cum_quote=r.cum_quote, fee=r.fee,
                        fee_asset=r.fee_asset, intent_ms=r.intent_ms)
