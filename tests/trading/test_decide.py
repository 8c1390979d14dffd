"""decide(state, facts, now) and the state timers, table-driven: every state × every fact that matters, no loop."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otobot.trading.cycle import (
    KEEP,
    LIVE_STATES,
    TRANSITIONS,
    Action,
    ApplyConfig,
    Cancel,
    CloseCycle,
    Facts,
    Fire,
    Pause,
    Place,
    PlaceUnwind,
    Rearm,
    Refresh,
    SettlePlace,
    SettleUnwind,
    State,
    Sweep,
    TakeOver,
    Timers,
    decide,
    timer,
)
from otobot.trading.tracker import CycleOrders, TrackedOrder

D = Decimal
S = State
NOW = 1000.0
PAST, FUTURE = NOW - 1, NOW + 1
T = Timers(buy_s=3, sell_s=5, settle_s=0.5, rung_s=1, between_s=0.05, cancel_check_s=5)


def leg(role: str, status: str, cum: str = "0", oid: str | None = "1") -> TrackedOrder:
    side = "BUY" if role == "working" else "SELL"
    return TrackedOrder(row_id=1, role=role, order_id=None if status == "INTENT" else oid, side=side,
                        price=D(48), quantity=D("0.4"), status=status, cum_qty=D(cum))


def oto(w: str, p: str, w_cum: str = "0", unwinds: tuple[tuple[str, str], ...] = ()) -> CycleOrders:
    orders = CycleOrders(working=leg("working", w, w_cum, "11"), pending=leg("pending", p, oid="12"))
    for i, (status, cum) in enumerate(unwinds):
        orders.unwinds.append(leg("unwind", status, cum, f"2{i}"))
    return orders


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {"rungs": 3, "buy_s": 3.0, "sell_s": 5.0}
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


NEW_PENDING = oto("NEW", "PENDING")
CASES: list[tuple[str, State, Facts, list[Action]]] = [
    # ---- idle: the only state that starts anything
    ("idle, timer due: place", S.idle, facts(deadline=PAST), [Place()]),
    ("idle, timer running: wait", S.idle, facts(deadline=FUTURE), []),
    ("idle, paused", S.idle, facts(deadline=PAST, paused_reason="operator"), [Fire("pause", "operator")]),
    ("idle, reloaded file first", S.idle, facts(deadline=PAST, config_pending=True), [ApplyConfig()]),
    # issue 19, problem 7: a reload may switch the token; the old token's dust is swept before it
    ("idle, dust swept before a reloaded file", S.idle, facts(deadline=PAST, config_pending=True, dust=D("0.003")),
     [Sweep(D("0.003"))]),
    ("idle, target reached", S.idle, facts(deadline=PAST, target_reached=True),
     [Fire("target_reached", "today's target is reached")]),
    ("idle, dust before the next OTO", S.idle, facts(deadline=FUTURE, dust=D("0.003")), [Sweep(D("0.003"))]),
    ("idle, dust even at the target", S.idle, facts(deadline=PAST, dust=D("0.003"), target_reached=True),
     [Sweep(D("0.003"))]),
    ("idle, no market known", S.idle, facts(deadline=PAST, can_trade=False), []),
    ("idle, an adopted late OTO first, even paused", S.idle, facts(deadline=PAST, late_cycle=True,
                                                                  paused_reason="operator"), [TakeOver()]),
    # ---- placing: only after a restart (a live bot leaves it within the request)
    ("placing, in flight", S.placing, facts(deadline=None), []),
    ("placing, restored", S.placing, facts(deadline=PAST),
     [Fire("outcome_unknown", "restarted while the place request was in flight")]),
    # ---- reconciling
    ("reconciling, due: look up", S.reconciling, facts(deadline=PAST), [SettlePlace()]),
    ("reconciling, between lookups", S.reconciling, facts(deadline=FUTURE), []),
    # ---- pending / partially_filled
    ("pending, waiting", S.pending, facts(deadline=FUTURE, orders=NEW_PENDING), []),
    ("pending, BUY timeout", S.pending, facts(deadline=PAST, orders=NEW_PENDING),
     [Fire("buy_timeout", "BUY not filled within 3.0 s"), Cancel("working")]),
    ("pending, part filled", S.pending, facts(deadline=FUTURE, orders=oto("PARTIALLY_FILLED", "PENDING", "0.1")),
     [Fire("buy_partial", "working BUY partly filled")]),
    ("pending, SELL live proves the BUY filled", S.pending, facts(deadline=FUTURE, orders=oto("NEW", "NEW")),
     [Fire("buy_filled", "working BUY filled, pending SELL live")]),
    ("pending, BUY gone unfilled", S.pending, facts(deadline=FUTURE, orders=oto("EXPIRED", "EXPIRED")),
     [Fire("cancelled", "the OTO ended unfilled")]),
    ("partially_filled, timeout", S.partially_filled,
     facts(deadline=PAST, orders=oto("PARTIALLY_FILLED", "PENDING", "0.1")),
     [Fire("buy_timeout", "BUY not filled within 3.0 s"), Cancel("working")]),
    ("partially_filled, filled", S.partially_filled, facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4")),
     [Fire("buy_filled", "working BUY filled, pending SELL live")]),
    # ---- selling
    ("selling, waiting", S.selling, facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4")), []),
    ("selling, SELL timeout", S.selling, facts(deadline=PAST, orders=oto("FILLED", "NEW", "0.4")),
     [Fire("sell_timeout", "SELL not filled within 5.0 s"), Cancel("pending")]),
    ("selling, SELL filled", S.selling, facts(deadline=FUTURE, orders=oto("FILLED", "FILLED", "0.4")),
     [Fire("sell_filled", "pending SELL filled")]),
    # ---- cancelling
    ("cancelling, waiting", S.cancelling, facts(deadline=FUTURE, orders=NEW_PENDING, cancelling="working"), []),
    ("cancelling, not confirmed: look and cancel again", S.cancelling,
     facts(deadline=PAST, orders=NEW_PENDING, cancelling="working"),
     [Refresh("cancel not yet confirmed"), Cancel("working"), Rearm()]),
    ("cancelling the BUY, which filled first: sell as planned", S.cancelling,
     facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4"), cancelling="working"),
     [Fire("buy_filled", "working BUY filled, pending SELL live")]),
    ("cancelling the SELL: a live SELL is what we cancel", S.cancelling,
     facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4"), cancelling="pending"), []),
    ("cancelling, both legs over", S.cancelling, facts(orders=oto("CANCELED", "CANCELED"), cancelling="working"),
     [Fire("cancelled", "the OTO ended unfilled")]),
    ("cancelling, SELL filled meanwhile", S.cancelling,
     facts(orders=oto("FILLED", "FILLED", "0.4"), cancelling="pending"), [Fire("sell_filled", "pending SELL filled")]),
    # ---- cancelled: unwind or close
    ("cancelled, a leg still live", S.cancelled, facts(deadline=None, orders=oto("CANCELED", "NEW", "0.4")),
     [Cancel("live"), Rearm()]),
    ("cancelled, fills to confirm", S.cancelled,
     facts(orders=oto("CANCELED", "CANCELED", "0.1"), fills_confirmed=False), [Refresh("before unwinding")]),
    ("cancelled, leftover to sell", S.cancelled,
     facts(orders=oto("CANCELED", "CANCELED", "0.1"), leftover=D("0.1"), leftover_sellable=True),
     [Fire("unwind", "0.1 bought and not sold: selling it"), PlaceUnwind(0)]),
    ("cancelled, nothing bought", S.cancelled, facts(orders=oto("CANCELED", "CANCELED")),
     [Fire("close", "nothing was bought")]),
    ("cancelled, only dust", S.cancelled, facts(orders=oto("CANCELED", "CANCELED", "0.001"), leftover=D("0.0001")),
     [Fire("close", "0.0001 left is dust below the minimum order")]),
    # ---- unwinding (cycle leftovers and dust sweeps alike)
    ("unwinding, first rung", S.unwinding, facts(orders=CycleOrders(base_in=D(1)), leftover_sellable=True,
                                                 leftover=D(1)), [PlaceUnwind(0)]),
    ("unwinding, rung cancelled: next rung", S.unwinding,
     facts(orders=oto("CANCELED", "CANCELED", "0.1", (("CANCELED", "0"),)), leftover_sellable=True),
     [PlaceUnwind(1)]),
    ("unwinding, rung refused (429): same rung when due", S.unwinding,
     facts(deadline=PAST, orders=oto("CANCELED", "CANCELED", "0.1", (("CANCELED", "0"), ("NOT_PLACED", "0"))),
           leftover_sellable=True), [PlaceUnwind(1)]),
    ("unwinding, rung refused (429): wait Retry-After", S.unwinding,
     facts(deadline=FUTURE, orders=oto("CANCELED", "CANCELED", "0.1", (("NOT_PLACED", "0"),)),
           leftover_sellable=True), []),
    ("unwinding, ladder exhausted", S.unwinding,
     facts(orders=oto("CANCELED", "CANCELED", "0.1", (("CANCELED", "0"),) * 3), leftover_sellable=True),
     [Pause("unwind_failed", "the whole unwind ladder was tried")]),
    ("unwinding, paused for the ladder", S.unwinding,
     facts(orders=oto("CANCELED", "CANCELED", "0.1", (("CANCELED", "0"),) * 3), unwind_blocked=True), []),
    ("unwinding, rest is dust after a partial rung", S.unwinding,
     facts(orders=oto("CANCELED", "CANCELED", "0.1", (("CANCELED", "0.0999"),)), leftover=D("0.0001")),
     [Fire("unwound", "the 0.0001 left cannot be sold (below the minimum order)")]),
    ("unwinding, rung outcome unknown: settle", S.unwinding,
     facts(deadline=PAST, orders=oto("CANCELED", "CANCELED", "0.1", (("INTENT", "0"),))), [SettleUnwind()]),
    ("unwinding, rung live too long: cancel", S.unwinding,
     facts(deadline=PAST, orders=oto("CANCELED", "CANCELED", "0.1", (("NEW", "0"),))), [Cancel("unwind"), Rearm()]),
    ("unwinding, rung live: wait", S.unwinding,
     facts(deadline=FUTURE, orders=oto("CANCELED", "CANCELED", "0.1", (("NEW", "0"),))), []),
    ("unwinding, rung filled", S.unwinding,
     facts(orders=oto("CANCELED", "CANCELED", "0.1", (("FILLED", "0.1"),))), [Fire("unwound", "unwind SELL filled")]),
    # ---- the rest
    ("done: close the books", S.done, facts(), [CloseCycle()]),
    ("paused, reason holds", S.paused, facts(paused_reason="operator"), []),
    ("paused, reason cleared", S.paused, facts(), [Fire("resume", "pause cleared")]),
    ("finished, same day", S.finished, facts(target_reached=True), []),
    ("finished, new UTC day", S.finished, facts(target_reached=True, new_day=True), [Fire("new_day", "a new UTC day")]),
    ("finished, reloaded file", S.finished, facts(target_reached=True, config_pending=True), [ApplyConfig()]),
    ("finished, target raised", S.finished, facts(target_reached=False),
     [Fire("target_raised", "the target was raised above today's volume")]),
]


@pytest.mark.parametrize(("state", "f", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(state: State, f: Facts, expected: list[Action]) -> None:
    assert decide(state, f, NOW) == expected


def test_the_table_covers_every_state() -> None:
    assert {c[1] for c in CASES} == set(State)


def test_every_trigger_decide_fires_is_in_the_transition_table_for_that_state() -> None:
    table = {(t, src) for t, sources, _ in TRANSITIONS for src in (sources if isinstance(sources, list) else [sources])}
    for name, state, f, _ in CASES:
        for a in decide(state, f, NOW):
            if isinstance(a, Fire):
                assert (a.trigger, state) in table, name


# ------------------------------------------------------------------ timers, on entry and after a restart

ENTRY = [
    (S.idle, NOW + 0.05), (S.placing, None), (S.reconciling, NOW + 0.5), (S.pending, NOW + 3),
    (S.partially_filled, KEEP), (S.selling, NOW + 5), (S.cancelling, NOW + 5), (S.cancelled, None),
    (S.unwinding, KEEP), (S.done, None), (S.paused, None), (S.finished, None),
]
RESTORED = [
    (S.idle, NOW + 0.05), (S.placing, NOW), (S.reconciling, NOW + 0.5), (S.pending, NOW + 3),
    (S.partially_filled, NOW + 3), (S.selling, NOW + 5), (S.cancelling, NOW + 5), (S.cancelled, NOW),
    (S.unwinding, NOW), (S.done, None), (S.paused, None), (S.finished, None),
]


@pytest.mark.parametrize(("state", "deadline"), ENTRY, ids=[str(s) for s, _ in ENTRY])
def test_timer_on_entry(state: State, deadline: float | None) -> None:
    assert timer(state, T, NOW) == deadline


@pytest.mark.parametrize(("state", "deadline"), RESTORED, ids=[str(s) for s, _ in RESTORED])
def test_timer_after_a_restart(state: State, deadline: float | None) -> None:
    assert timer(state, T, NOW, restored=True) == deadline


def test_every_live_state_has_a_deadline_after_a_restart() -> None:
    """Nothing waits forever on a timer that lived only in the dead process (issue 9, problem 1)."""
    for state in LIVE_STATES:
        assert timer(state, T, NOW, restored=True) not in (None, KEEP), state


@pytest.mark.parametrize("state", [S.partially_filled, S.unwinding])
def test_a_restored_timer_acts_once_it_is_due(state: State) -> None:
    """Restore into partially_filled (a BUY part filled) and unwinding (a rung on the book): the restored deadline
    makes decide cancel once it passes, where the old code waited for a timer nobody had set."""
    orders = oto("PARTIALLY_FILLED", "PENDING", "0.1") if state is S.partially_filled \
        else oto("CANCELED", "CANCELED", "0.1", (("NEW", "0"),))
    deadline = timer(state, T, NOW, restored=True)
    assert deadline is not None
    assert decide(state, facts(deadline=deadline, orders=orders), deadline - 0.01) == []
    acted = decide(state, facts(deadline=deadline, orders=orders), deadline)
    assert any(isinstance(a, Cancel) for a in acted), acted
