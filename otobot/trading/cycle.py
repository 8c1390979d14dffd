"""The OTO cycle as one table: states, transitions, each state's timer, and the pure `decide(state, facts, now)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, NamedTuple

import transitions
from transitions import Machine

from otobot.trading.tracker import CycleOrders, next_trigger, unwind_rung


class State(StrEnum):
    """A cycle's states; the value is what SQLite, the audit trail and `otobot status` show."""

    idle = "idle"  # no order of ours is live; the next OTO (or a dust sweep) may start from here and only here
    placing = "placing"  # the OTO intent is in SQLite and its place request is in flight
    reconciling = "reconciling"  # a place request's outcome is unknown (timeout, reset, 5xx): asking the exchange
    pending = "pending"  # working BUY on the book, pending SELL dormant (X=PENDING)
    partially_filled = "partially_filled"  # working BUY partly filled
    selling = "selling"  # working BUY filled, pending SELL live
    cancelling = "cancelling"  # a timeout (or shutdown) asked the exchange to cancel; waiting for it to confirm
    cancelled = "cancelled"  # the OTO is over without a full round trip; leftover base decides unwind or close
    unwinding = "unwinding"  # selling base (a cycle's leftover, or swept fee dust) with LIMIT sells down a ladder
    done = "done"  # the cycle is over and accounted
    paused = "paused"  # the user is paused with a reason (see pauses.Pause)
    finished = "finished"  # today's target is reached; a new UTC day or a raised target starts trading again


S = State

# Guards on `place`, each named for what it protects; the bot gathers their facts (PlaceFacts) first.
PLACE_GUARDS: tuple[str, ...] = (
    "not_paused",
    "no_live_oto",
    "user_stream_up",
    "price_is_fresh",
    "book_is_fresh",
    "volatility_ok",
    "target_open",
    "balance_ok",
)

# ------------------------------------------------------------------ transitions: trigger, from, to
TRANSITIONS: tuple[tuple[str, State | list[State], State], ...] = (
    ("place", S.idle, S.placing),
    ("placed", S.placing, S.pending),
    ("place_failed", S.placing, S.idle),
    ("outcome_unknown", S.placing, S.reconciling),
    # from idle: a POST the exchange applied after we settled it as not placed
    ("adopted", [S.reconciling, S.idle, S.paused, S.finished], S.pending),
    ("not_placed", S.reconciling, S.idle),
    ("buy_partial", S.pending, S.partially_filled),
    ("buy_filled", [S.pending, S.partially_filled, S.cancelling], S.selling),
    ("buy_timeout", [S.pending, S.partially_filled], S.cancelling),
    ("sell_timeout", S.selling, S.cancelling),
    ("operator_cancel", [S.pending, S.partially_filled, S.selling], S.cancelling),  # ctl cancel / flatten
    ("sell_filled", [S.selling, S.cancelling], S.done),
    ("cancelled", [S.pending, S.partially_filled, S.selling, S.cancelling], S.cancelled),
    ("unwind", S.cancelled, S.unwinding),
    ("sweep", [S.idle, S.paused, S.finished], S.unwinding),  # from paused/finished: ctl flatten only
    ("unwound", S.unwinding, S.done),
    ("close", S.cancelled, S.done),
    ("next", S.done, S.idle),
    ("pause", [S.idle, S.done], S.paused),
    ("resume", S.paused, S.idle),
    ("target_reached", S.idle, S.finished),
    ("new_day", S.finished, S.idle),
    ("target_raised", S.finished, S.idle),
)

LIVE_STATES = frozenset({S.placing, S.reconciling, S.pending, S.partially_filled, S.selling, S.cancelling,
                         S.cancelled, S.unwinding})

FACT_REASONS = {
    "buy_partial": "working BUY partly filled",
    "buy_filled": "working BUY filled, pending SELL live",
    "sell_filled": "pending SELL filled",
    "cancelled": "the OTO ended unfilled",
    "unwound": "unwind SELL filled",
}


# ------------------------------------------------------------------ timers


class Timers(NamedTuple):
    """How long each state may last before its timer acts (seconds; from the user's and reliability config). A
    NamedTuple: built on every state entry, and a frozen dataclass pays a setattr call per field."""

    buy_s: float
    sell_s: float
    settle_s: float  # reliability.unknown_settle_s: between lookups of an unknown outcome
    rung_s: float  # unwind.rung_timeout_s
    between_s: float  # pause_between_cycles_s
    cancel_check_s: float = 5.0  # no cancel confirmation on the stream after this → ask REST
    # When the fill that ended the last cycle was read (monotonic): the pause runs from there, so the cycle's
    # bookkeeping happens inside it and the next OTO leaves `between_s` after that fill, not after the paperwork.
    last_fill_at: float | None = None


KEEP = -1.0  # timer(): the state keeps the deadline it inherited (partially_filled keeps the BUY's)


def timer(state: State, t: Timers, now: float, *, restored: bool = False) -> float | None:
    """The deadline of `state` entered at `now` (None: it waits for facts only). After a restart every live
    state gets a deadline, so nothing waits forever on a timer that lived only in the dead process's memory."""
    if state in (S.pending, S.partially_filled):
        return now + t.buy_s if state is S.pending or restored else KEEP
    return {
        S.selling: now + t.sell_s,
        S.cancelling: now + t.cancel_check_s,
        S.reconciling: now + t.settle_s,
        # A restored rung is checked at once (settled if its POST was in flight, cancelled if it sat too long).
        S.unwinding: now if restored else KEEP,
        S.placing: now if restored else None,
        S.idle: (now if t.last_fill_at is None else min(now, t.last_fill_at)) + t.between_s,
        S.cancelled: now if restored else None,
    }.get(state)


# ------------------------------------------------------------------ the place guards


@dataclass(slots=True)
class PlaceFacts:
    """What the `place` guards look at, gathered by the bot just before it tries to place."""

    paused_reason: str | None = None
    live_orders: int = 0
    user_stream_up: bool = False
    price_age_s: float | None = None
    max_price_age_s: float = 0.0
    move_pct: float = 0.0  # volatility is a ratio for a guard, not money
    max_move_pct: float = 0.0
    volume_today: str = "0"
    target_reached: bool = False
    balance_free: str = "0"
    balance_ok: bool = False
    book_refusal: str | None = None  # pricing.mode book: why the book gives no price (empty, stale, thin side)


class Cycle:
    """The model the machine drives: one per bot. `on_change` persists and logs every transition."""

    state: State = State.idle  # until the machine attaches the model (restored state), readers see idle
    # trigger methods are attached by transitions; declared here for readers and mypy
    trigger: Callable[..., bool]

    def __init__(self, on_change: Callable[[str, str, str], None] | None = None) -> None:
        self.facts = PlaceFacts()
        self._on_change = on_change

    # ---- guards (named for what they protect)
    def not_paused(self, *_: Any) -> bool:
        return self.facts.paused_reason is None

    def no_live_oto(self, *_: Any) -> bool:
        return self.facts.live_orders == 0

    def user_stream_up(self, *_: Any) -> bool:
        return self.facts.user_stream_up

    def price_is_fresh(self, *_: Any) -> bool:
        age = self.facts.price_age_s
        return age is not None and age <= self.facts.max_price_age_s

    def book_is_fresh(self, *_: Any) -> bool:
        return self.facts.book_refusal is None

    def volatility_ok(self, *_: Any) -> bool:
        return self.facts.move_pct <= self.facts.max_move_pct

    def target_open(self, *_: Any) -> bool:
        return not self.facts.target_reached

    def balance_ok(self, *_: Any) -> bool:
        return self.facts.balance_ok

    def refusal(self) -> str | None:
        """The first place guard that says no, as a sentence for the log; None when all say yes. Asked before
        every placement, so the sentences are written only for a guard that refuses."""
        for guard in PLACE_GUARDS:
            if not getattr(self, guard)():
                return self._reason(guard)
        return None

    def _reason(self, guard: str) -> str:
        f = self.facts
        if guard == "not_paused":
            return f"the user is paused ({f.paused_reason})"
        if guard == "no_live_oto":
            return f"{f.live_orders} order(s) of the last cycle are still live"
        if guard == "user_stream_up":
            return "the user-data stream is not connected and reconciled"
        if guard == "price_is_fresh":
            return ("no trade price yet" if f.price_age_s is None
                    else f"the last trade price is {f.price_age_s:.1f} s old (max {f.max_price_age_s} s)")
        if guard == "book_is_fresh":
            return f"waiting for the order book ({f.book_refusal})"
        if guard == "volatility_ok":
            return f"the price moved {f.move_pct:.2f} % within the window (max {f.max_move_pct} %)"
        if guard == "target_open":
            return f"today's target is reached (volume {f.volume_today})"
        if guard == "balance_ok":
            return f"free quote balance {f.balance_free} is below the order size plus reserve"
        raise KeyError(f"no words for the place guard {guard!r}")

    # ---- one callback: persist + log (the bot passes it in)
    def _changed(self, event: Any) -> None:
        if self._on_change is not None:
            reason = str(event.kwargs.get("reason", event.event.name))
            self._on_change(str(event.transition.source), str(event.transition.dest), reason)


class _NamedState(transitions.State):
    """transitions' State with its name read once. On Python 3.11 an Enum member's `.name` is a Python-level
    property, and transitions asks a state for its name a dozen times per trigger (profiled: a third of a
    trigger's cost)."""

    def __init__(self, name: str | Enum, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self._plain_name = name.name if isinstance(name, Enum) else name

    @property
    def name(self) -> str:
        return self._plain_name


class _CycleMachine(Machine):
    """The machine with the two lookups it repeats on every trigger made cheap; what it does is unchanged."""

    state_cls = _NamedState

    def get_state(self, state: str | Enum) -> transitions.State:
        # A State member is a str equal to its name (asserted in build_machine), so it is its own key.
        found = self.states.get(state) if isinstance(state, str) else None
        return found if found is not None else super().get_state(state)


def build_machine(models: list[Cycle] | None = None) -> Machine:
    """One machine can drive many bots' models (transitions supports it), which keeps 1,000 users light."""
    assert all(s.name == s.value for s in State), "_CycleMachine.get_state looks states up by value"
    table = [
        {"trigger": t, "source": s, "dest": d, **({"conditions": list(PLACE_GUARDS)} if t == "place" else {})}
        for t, s, d in TRANSITIONS
    ]
    return _CycleMachine(
        model=models or [],
        states=State,
        transitions=table,
        initial=S.idle,
        auto_transitions=False,
        send_event=True,
        after_state_change="_changed",
        model_attribute="state",
    )


def attach(machine: Machine, cycle: Cycle, state: str = "idle") -> None:
    machine.add_model(cycle, initial=State(state))


def detach(machine: Machine, cycle: Cycle) -> None:
    machine.remove_model(cycle)


def fire(machine: Machine, cycle: Cycle, trigger: str, reason: str) -> bool:
    """Trigger an event of the table on `cycle`: the event object directly, not through the model's
    `trigger(name)` (one lookup and one call fewer per transition). True when a transition happened."""
    return bool(machine.events[trigger].trigger(cycle, reason=reason))


def mermaid() -> str:
    """The machine as a Mermaid state diagram, generated from the table above (README embeds it)."""
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    for trigger, sources, dest in TRANSITIONS:
        for src in sources if isinstance(sources, list) else [sources]:
            label = f"{trigger} [guards]" if trigger == "place" else trigger
            lines.append(f"    {src} --> {dest}: {label}")
    return "\n".join(lines)


# ------------------------------------------------------------------ decide: facts → actions (pure)


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything `decide` looks at, gathered by the driver from memory (no I/O while deciding)."""

    deadline: float | None = None  # the state's timer (monotonic s)
    orders: CycleOrders = field(default_factory=CycleOrders)  # the cycle in flight (empty between cycles)
    cancelling: str | None = None  # which leg a cancelling cycle cancels: working | pending
    paused_reason: str | None = None
    config_pending: bool = False  # a reloaded file waits for the cycle boundary
    target_reached: bool = False
    new_day: bool = False  # the UTC day changed since the day book last looked
    can_trade: bool = True  # the token and its filters are known
    dust: Decimal = Decimal(0)  # sellable base held between cycles (fee dust): sweep it before the next OTO
    leftover: Decimal = Decimal(0)  # base this cycle still holds, floored to step
    leftover_sellable: bool = False
    fills_confirmed: bool = True  # the BUY's fills were read over REST since the OTO ended
    rungs: int = 0  # how many unwind rungs the ladder has
    unwind_blocked: bool = False  # the ladder was exhausted (paused unwind_failed)
    late_cycle: bool = False  # an OTO applied late by the exchange was adopted while another cycle was in flight
    cancel_requested: bool = False  # the operator asked to cancel the live cycle (ctl cancel / flatten)
    flatten_requested: bool = False  # the operator asked to sell all free base (ctl flatten), not yet started
    buy_s: float = 0.0  # the timeouts, for the words of the audit trail
    sell_s: float = 0.0


# The actions the driver carries out, one small value each.
@dataclass(frozen=True, slots=True)
class Fire:
    trigger: str
    reason: str


@dataclass(frozen=True, slots=True)
class Place:
    """Try to place the next OTO (the place guards decide; a refusal is a wait, not an error)."""


@dataclass(frozen=True, slots=True)
class Sweep:
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    pass


@dataclass(frozen=True, slots=True)
class TakeOver:
    """Follow the adopted late cycle now that the one in flight is over."""


@dataclass(frozen=True, slots=True)
class SettlePlace:
    """Ask the exchange whether the lost place request created the OTO."""


@dataclass(frozen=True, slots=True)
class Cancel:
    role: str  # working | pending | live: every leg still live


@dataclass(frozen=True, slots=True)
class Refresh:
    """Read the cycle's orders over REST (a cancel not confirmed, fills to confirm before unwinding)."""

    why: str


@dataclass(frozen=True, slots=True)
class PlaceUnwind:
    rung: int


@dataclass(frozen=True, slots=True)
class SettleUnwind:
    pass


@dataclass(frozen=True, slots=True)
class CloseCycle:
    pass


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Flatten:
    """Sell all free base of the token down the unwind ladder (ctl flatten), as a sweep cycle."""


@dataclass(frozen=True, slots=True)
class Rearm:
    """Look again after the cancel-check interval (a cancel the exchange has not confirmed yet)."""


Action = Fire | Place | Sweep | ApplyConfig | TakeOver | SettlePlace | Cancel | Refresh | PlaceUnwind | SettleUnwind | \
    CloseCycle | Pause | Flatten | Rearm


def decide(state: State, f: Facts, now: float) -> list[Action]:
    """What `state` calls for given the facts and the clock. Pure: the whole cycle logic, table-tested."""
    trigger = next_trigger(state, f.orders, f.cancelling)
    if trigger is not None:
        return [Fire(trigger, FACT_REASONS[trigger])]
    due = f.deadline is not None and now >= f.deadline
    if state is S.idle:
        return _idle(f, due)
    if state is S.placing:
        # Only after a restart (a live bot leaves `placing` within the request): its fate is unknown.
        return [Fire("outcome_unknown", "restarted while the place request was in flight")] if due else []
    if state is S.reconciling:
        return [SettlePlace()] if due else []
    if f.cancel_requested and state in (S.pending, S.partially_filled, S.selling):
        return [Fire("operator_cancel", "cancelled by the operator"), Cancel("live")]
    if f.flatten_requested and state in (S.paused, S.finished):
        return [Flatten()]
    if state in (S.pending, S.partially_filled):
        return [Fire("buy_timeout", f"BUY not filled within {f.buy_s} s"), Cancel("working")] if due else []
    if state is S.selling:
        return [Fire("sell_timeout", f"SELL not filled within {f.sell_s} s"), Cancel("pending")] if due else []
    if state is S.cancelling:
        return [Refresh("cancel not yet confirmed"), Cancel(f.cancelling or "live"), Rearm()] if due else []
    if state is S.cancelled:
        return _cancelled(f, due)
    if state is S.unwinding:
        return _unwinding(f, due)
    if state is S.done:
        return [CloseCycle()]
    if state is S.paused:
        return [] if f.paused_reason is not None else [Fire("resume", "pause cleared")]
    if state is S.finished:
        if f.config_pending:
            return [ApplyConfig()]  # a raised target is looked at the same day, not tomorrow
        if f.new_day:
            return [Fire("new_day", "a new UTC day")]
        if not f.target_reached:
            return [Fire("target_raised", "the target was raised above today's volume")]
    return []


def _idle(f: Facts, due: bool) -> list[Action]:
    if f.late_cycle:
        return [TakeOver()]  # its orders are live on the exchange: followed whatever else holds
    if f.flatten_requested and f.can_trade:
        return [Flatten()]
    if f.paused_reason is not None:
        return [Fire("pause", f.paused_reason)]
    if f.config_pending and not (f.dust > 0 and f.can_trade):
        return [ApplyConfig()]  # (the current token's dust is swept first: a reload may switch the token)
    if not f.can_trade:
        return []
    if f.dust > 0:
        return [Sweep(f.dust)]  # the driver confirms the balance on the exchange, then fires `sweep`
    if f.target_reached:
        return [Fire("target_reached", "today's target is reached")]
    return [Place()] if due else []


def _cancelled(f: Facts, due: bool) -> list[Action]:
    if f.orders.live_count():
        # The exchange left a leg live (a cancel raced a fill or an expiry): cancel it and check again.
        return [Cancel("live"), Rearm()] if due or f.deadline is None else []
    if not f.fills_confirmed:
        return [Refresh("before unwinding")]  # a late fill must count before deciding how much to sell
    if f.leftover_sellable:
        return [Fire("unwind", f"{f.leftover} bought and not sold: selling it"), PlaceUnwind(0)]
    why = "nothing was bought" if f.leftover == 0 else f"{f.leftover} left is dust below the minimum order"
    return [Fire("close", why)]


def _unwinding(f: Facts, due: bool) -> list[Action]:
    if f.unwind_blocked:
        return []
    u = f.orders.unwind
    rung = unwind_rung(f.orders)
    if u is None or u.status in ("CANCELED", "EXPIRED", "REJECTED") or (u.status == "NOT_PLACED" and due):
        if not f.leftover_sellable:
            return [Fire("unwound", f"the {f.leftover} left cannot be sold (below the minimum order)")]
        if rung >= f.rungs:
            return [Pause("unwind_failed", "the whole unwind ladder was tried")]
        return [PlaceUnwind(rung)]
    if u.status == "INTENT" and due:
        return [SettleUnwind()]
    if u.live and due:
        return [Cancel("unwind"), Rearm()]
    return []
