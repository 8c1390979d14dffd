"""The OTO cycle state machine (transitions): its states, triggers and guards, readable top to bottom."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions import Machine

# ------------------------------------------------------------------ states
STATES: tuple[str, ...] = (
    "idle",  # no order of ours is live; the next OTO may be placed from here and only from here
    "placing",  # the OTO intent is in SQLite and its place request is in flight
    "reconciling",  # a request's outcome is unknown (timeout, reset, 5xx): asking the exchange what happened
    "pending",  # working BUY on the book, pending SELL dormant (X=PENDING)
    "partially_filled",  # working BUY partly filled
    "selling",  # working BUY filled, pending SELL live
    "cancelling",  # a timeout (or shutdown) asked the exchange to cancel; waiting for it to confirm
    "cancelled",  # the OTO is over without a full round trip; leftover base decides unwind or close
    "unwinding",  # selling leftover base with plain LIMIT sells down a price ladder
    "done",  # the cycle is over and accounted
    "paused",  # the user is paused with a reason (balance, auth, risk challenge, disconnect, operator)
    "finished",  # today's target is reached; the next UTC day starts a new target by itself
)

# Guards on `place`, each named for what it protects; the bot evaluates them (they need I/O-free facts).
PLACE_GUARDS: tuple[str, ...] = (
    "not_paused",
    "no_live_oto",
    "user_stream_up",
    "price_is_fresh",
    "volatility_ok",
    "target_open",
    "balance_ok",
)

# ------------------------------------------------------------------ transitions: trigger, from, to
TRANSITIONS: tuple[tuple[str, str | list[str], str], ...] = (
    ("place", "idle", "placing"),
    ("placed", "placing", "pending"),
    ("place_failed", "placing", "idle"),
    ("outcome_unknown", "placing", "reconciling"),
    ("adopted", "reconciling", "pending"),
    ("not_placed", "reconciling", "idle"),
    ("buy_partial", "pending", "partially_filled"),
    ("buy_filled", ["pending", "partially_filled", "cancelling"], "selling"),
    ("buy_timeout", ["pending", "partially_filled"], "cancelling"),
    ("sell_timeout", "selling", "cancelling"),
    ("sell_filled", ["selling", "cancelling"], "done"),
    ("cancelled", ["pending", "partially_filled", "selling", "cancelling"], "cancelled"),
    ("unwind", "cancelled", "unwinding"),
    ("unwound", "unwinding", "done"),
    ("close", "cancelled", "done"),
    ("next", "done", "idle"),
    ("pause", ["idle", "done"], "paused"),
    ("resume", "paused", "idle"),
    ("target_reached", "idle", "finished"),
    ("new_day", "finished", "idle"),
)

LIVE_STATES = frozenset({"placing", "reconciling", "pending", "partially_filled", "selling", "cancelling",
                         "cancelled", "unwinding"})


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


class Cycle:
    """The model the machine drives: one per bot. `on_change` persists and logs every transition."""

    state: str
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

    def volatility_ok(self, *_: Any) -> bool:
        return self.facts.move_pct <= self.facts.max_move_pct

    def target_open(self, *_: Any) -> bool:
        return not self.facts.target_reached

    def balance_ok(self, *_: Any) -> bool:
        return self.facts.balance_ok

    def refusal(self) -> str | None:
        """The first place guard that says no, as a sentence for the log; None when all say yes."""
        f = self.facts
        reasons = {
            "not_paused": f"the user is paused ({f.paused_reason})",
            "no_live_oto": f"{f.live_orders} order(s) of the last cycle are still live",
            "user_stream_up": "the user-data stream is not connected and reconciled",
            "price_is_fresh": ("no trade price yet" if f.price_age_s is None
                               else f"the last trade price is {f.price_age_s:.1f} s old (max {f.max_price_age_s} s)"),
            "volatility_ok": f"the price moved {f.move_pct:.2f} % within the window (max {f.max_move_pct} %)",
            "target_open": f"today's target is reached (volume {f.volume_today})",
            "balance_ok": f"free quote balance {f.balance_free} is below the order size plus reserve",
        }
        for guard in PLACE_GUARDS:
            if not getattr(self, guard)():
                return reasons[guard]
        return None

    # ---- one callback: persist + log (the bot passes it in)
    def _changed(self, event: Any) -> None:
        if self._on_change is not None:
            reason = str(event.kwargs.get("reason", event.event.name))
            self._on_change(event.transition.source, event.transition.dest, reason)


def build_machine(models: list[Cycle] | None = None) -> Machine:
    """One machine can drive many bots' models (transitions supports it), which keeps 1,000 users light."""
    transitions = [
        {"trigger": t, "source": s, "dest": d, **({"conditions": list(PLACE_GUARDS)} if t == "place" else {})}
        for t, s, d in TRANSITIONS
    ]
    return Machine(
        model=models or [],
        states=list(STATES),
        transitions=transitions,
        initial="idle",
        auto_transitions=False,
        send_event=True,
        after_state_change="_changed",
        model_attribute="state",
    )


def attach(machine: Machine, cycle: Cycle, state: str = "idle") -> None:
    machine.add_model(cycle, initial=state)


def detach(machine: Machine, cycle: Cycle) -> None:
    machine.remove_model(cycle)


def mermaid() -> str:
    """The machine as a Mermaid state diagram, generated from the table above (README embeds it)."""
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    for trigger, sources, dest in TRANSITIONS:
        for src in [sources] if isinstance(sources, str) else sources:
            label = f"{trigger} [guards]" if trigger == "place" else trigger
            lines.append(f"    {src} --> {dest}: {label}")
    return "\n".join(lines)
