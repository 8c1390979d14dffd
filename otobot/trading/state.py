"""The one object a bot owns: every fact decide() reads, its cycle and legs, timer, day book and pending requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from otobot.config.settings import UserConfig
from otobot.exchange.models import AssetBalance
from otobot.store.records import CycleRow
from otobot.trading import cycle
from otobot.trading.cycle import Facts, State, Timers
from otobot.trading.daybook import DayBook
from otobot.trading.pauses import Pause
from otobot.trading.tracker import CycleOrders

_ZERO = Decimal(0)


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
    fill_received: float | None = None  # when the frame that completed the last cycle was read
    planned_wait: float = 0.0  # the deliberate pause between that fill and the next OTO
    # what the exchange did that no intent explains
    late_cycle: int | None = None  # an adopted late OTO waiting for the cycle in flight to end
    stray_live: set[str] = field(default_factory=set)  # live legs of OTOs no intent explains: no new OTO meanwhile
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
