"""The one object a bot owns: every fact decide() reads, its cycle and legs, timer, day book and pending requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from otobot.config.settings import UserConfig
from otobot.exchange.models import AssetBalance, ExecutionReport
from otobot.store.records import CycleRow
from otobot.trading import cycle
from otobot.trading.cycle import Facts, State, Timers
from otobot.trading.daybook import DayBook
from otobot.trading.pauses import Pause
from otobot.trading.tracker import CycleOrders
from otobot.trading.waiting import Waiting

_ZERO = Decimal(0)
RESYNC_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # a reconcile that failed after subscribe is tried again


@dataclass(frozen=True, slots=True)
class Choice:
    """The token `token: auto` trades and the numbers that chose it (logged, and shown by `otobot status`)."""

    token: str  # the symbol, e.g. AOP
    why: str


@dataclass(slots=True)
class ManualOp:
    """One operator request in progress; the driver resolves `done` with the report once the user is paused."""

    kind: str  # cancel | flatten
    done: asyncio.Future[Any]
    flatten_pending: bool  # flatten: the sweep of all free base is still to start
    cancelled: list[str] = field(default_factory=list)  # OTO legs the exchange cancelled
    sold: Decimal = _ZERO  # base sold by the cycles this op closed
    sold_quote: Decimal = _ZERO
    left: Decimal = _ZERO  # base those cycles bought (or flatten found) and could not sell
    notes: list[str] = field(default_factory=list)
    everything: bool = False  # flatten --all (confirmed): sell all free base, the user's own coins too


@dataclass(slots=True)
class Link:
    """The user-data stream as the driver sees it, and the wake-ups it asks for."""

    down_since: float | None = None  # since when nothing is subscribed (monotonic; None: subscribed)
    up: bool = False  # subscribed AND reconciled: only then is anything new placed
    connected: bool = False  # subscribed (a reconcile may still be owed)
    poll_at: float = 0.0  # while down: the next REST look at the cycle in flight
    retry_at: float | None = None  # a wake-up after a transient exchange error (the state's own timer is kept)
    resync_at: float | None = None  # a failed reconcile is tried again then
    resyncs: int = 0

    def subscribed(self) -> None:
        self.connected = True
        self.down_since = None  # subscribed: a failed reconcile is retried, never "disconnected"

    def lost(self, now: float) -> bool:
        """The stream went down; returns whether it was up (reconciled) until now."""
        was_up = self.up
        self.up = self.connected = False
        self.resync_at = None
        self.down_since = self.down_since or now
        self.poll_at = now
        return was_up

    def resync_failed(self, now: float) -> float:
        """A reconcile failed: the delay before the next try, backing off."""
        delay = RESYNC_BACKOFF_S[min(self.resyncs, len(RESYNC_BACKOFF_S) - 1)]
        self.resyncs += 1
        self.resync_at = now + delay
        return delay

    def resynced(self) -> None:
        self.resyncs, self.resync_at = 0, None
        self.up = True

    def wakes(self, *, following: bool, paused: bool, grace_s: float) -> list[float]:
        """When the link wants the driver awake: a retry, a reconcile, a REST look while down, the grace's end."""
        wakes = [w for w in (self.retry_at, self.resync_at) if w is not None]
        if following and not self.up:
            wakes.append(self.poll_at)
        if self.down_since is not None and not paused:
            wakes.append(self.down_since + grace_s)
        return wakes


@dataclass(slots=True)
class TradingState:
    """A user's trading state. Components return what happened; the driver applies it here.

    The timer (`deadline`, monotonic seconds) is written only by the methods below: from the state's own timer on
    entering a state, or as a "look again in s seconds" a component returned."""

    # the cycle in flight
    cycle_row: CycleRow | None = None
    orders: CycleOrders = field(default_factory=CycleOrders)
    cancelling: str | None = None  # which leg a cancelling cycle cancels (stored with the cycle)
    fills_confirmed: bool = True
    done_from: tuple[str, str] | None = None  # the transition into `done`, persisted with the cycle's close
    deadline: float | None = None  # the current state's timer (monotonic)
    link: Link = field(default_factory=Link)  # the user-data stream
    # the day and the pause
    book: DayBook = field(default_factory=DayBook)
    paused_reason: str | None = None
    cycles_completed: int = 0
    # between cycles
    dust: Decimal = _ZERO  # base otobot's fills say is held between cycles on the current symbol
    sweep_after: float = 0.0  # no dust sweep before this (monotonic): the last one could sell nothing
    quote_free: Decimal | None = None
    balance_at: float = -1e9
    wallet: AssetBalance | None = None  # the last get-wallet-asset reply: says where money sits
    waiting: str | None = None  # the place guard that said no, logged once when it starts and ends
    waiting_for: Waiting | None = None  # the same as the views show it: reason, sentence, since when
    fill_received: float | None = None  # when the frame that completed the last cycle was read
    planned_wait: float = 0.0  # the deliberate pause between that fill and the next OTO
    # what the exchange did that no intent explains
    late_cycle: int | None = None  # an adopted late OTO waiting for the cycle in flight to end
    # Live legs of OTOs no intent explains: no new OTO meanwhile. Bound: the account's open orders on the symbol,
    # since a final event removes an id and every reconcile keeps only ids the exchange still lists as open.
    stray_live: set[str] = field(default_factory=set)
    # Events matching the request being settled. Bound: EVIDENCE_MAX (trading/follow.py); emptied when it settles.
    evidence: list[ExecutionReport] = field(default_factory=list)
    # pending requests
    next_cfg: UserConfig | None = None  # a reloaded file, applied at the next cycle boundary
    switch_market: bool = False  # the next ApplyConfig resolves the configured token again
    manual: ManualOp | None = None  # ctl cancel / flatten under way
    # token: auto
    auto: Choice | None = None
    reselect_at: float = 0.0
    choice_day: str | None = None
    facts_memo: tuple[tuple[Any, ...], Facts] | None = field(default=None, repr=False)  # facts(): the last ones

    # ------------------------------------------------------------------ the timer

    def enter(self, state: State, timers: Timers, now: float, *, restored: bool = False) -> None:
        """A state was entered: its own timer starts (or the running one is kept, as the table says)."""
        deadline = cycle.timer(state, timers, now, restored=restored)
        if deadline != cycle.KEEP:
            self.deadline = deadline

    def look_again(self, now: float, after_s: float | None) -> None:
        """A component asked to be asked again in `after_s` seconds (None: it asked nothing)."""
        if after_s is not None:
            self.deadline = now + after_s

    def stop_timer(self) -> None:
        self.deadline = None

    # ------------------------------------------------------------------ the cycle

    def start_cycle(self, row: CycleRow, orders: CycleOrders, cancelling: str | None, *, confirmed: bool) -> None:
        """A cycle became the one in flight: written, restored, adopted or a sweep."""
        self.cycle_row, self.orders, self.cancelling, self.fills_confirmed = row, orders, cancelling, confirmed

    def clear_cycle(self) -> None:
        self.cycle_row = None
        self.orders = CycleOrders()
        self.cancelling = None
        self.fills_confirmed = True

    def closed(self, orders: CycleOrders, *, same_symbol: bool, swept: bool, now: float, retry_s: float,
               pause_s: float) -> None:
        """The cycle in flight closed: what its SELL could not carry stays as dust, the day counts it."""
        bought = orders.working.cum_quote if orders.working else _ZERO
        sold = sum((o.cum_quote for o in orders.all() if o.side == "SELL"), _ZERO)
        if same_symbol:
            self.dust += orders.base_bought() - orders.base_sold()  # what a SELL could not carry (fee, step)
        if swept:
            if sold == 0:  # the price moved under the minimum order meanwhile: not again for a while
                self.sweep_after = now + retry_s
        else:
            self.book.cycles += 1
            self.cycles_completed += 1
        if self.quote_free is not None:
            self.quote_free += sold - bought  # the cached balance follows the cycle; refreshed every 30 s
        self.clear_cycle()
        self.planned_wait = pause_s

    def restored(self, day_volume: Decimal, day_cycles: int, paused_reason: str | None, row: CycleRow | None) -> State:
        """What SQLite says at start: the day's volume, the kept pause, the cycle in flight. The state to attach."""
        self.book.volume, self.book.cycles = day_volume, day_cycles
        if paused_reason is not None:
            self.paused_reason = paused_reason
        if row is not None:
            return State(row.state)
        return State.paused if self.paused_reason is not None else State.idle

    def held_between_cycles(self, held: Decimal) -> None:
        """Base of ours on the current symbol (SQLite's sum), less what the cycle in flight holds: dust to sweep."""
        in_cycle = self.orders.base_bought() - self.orders.base_sold() if self.cycle_row is not None else _ZERO
        self.dust = max(held - in_cycle, _ZERO)

    # ------------------------------------------------------------------ what the place guards and decide() read

    def facts(self, *, new_day: bool, can_trade: bool, dust: Decimal, leftover: Decimal, sellable: bool, rungs: int,
              buy_s: float, sell_s: float) -> Facts:
        """The Facts of this state and what the driver read of the market and settings. Asked after every message
        and step, and a third of the time (bench, 100 users) nothing changed: the last Facts is handed out again
        while every value is the same (comparing is cheaper than building a frozen dataclass of 19 fields;
        `orders` is the same object, read live)."""
        op = self.manual
        values = (  # in Facts' field order
            self.deadline, self.orders, self.cancelling, self.paused_reason, self.next_cfg is not None,
            self.book.reached, new_day, can_trade, dust, leftover, sellable, self.fills_confirmed, rungs,
            self.paused_reason == Pause.unwind_failed, self.late_cycle is not None, op is not None,
            op is not None and op.flatten_pending, buy_s, sell_s)
        memo = self.facts_memo
        if memo is not None and memo[0] == values:
            return memo[1]
        facts = Facts(*values)
        self.facts_memo = (values, facts)
        return facts

    def live_elsewhere(self) -> int:
        """Live OTO legs beside the cycle's own: strays no intent explains, and an adopted late cycle."""
        return len(self.stray_live) + (self.late_cycle is not None)

    def balance_due(self, now: float, within_s: float, max_age_s: float) -> bool:
        """No balance read yet, or the last one will be older than `max_age_s` `within_s` from now."""
        return self.quote_free is None or now + within_s - self.balance_at > max_age_s

    def balance_read(self, bal: AssetBalance, now: float) -> None:
        self.quote_free, self.balance_at, self.wallet = bal.free, now, bal
