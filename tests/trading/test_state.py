"""The one owner of a user's trading state: restoring it from what SQLite says, and applying what components return."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from otobot.exchange.models import AssetBalance
from otobot.store.records import CycleRow
from otobot.trading.cycle import KEEP, Facts, State, Timers, timer
from otobot.trading.pauses import Pause
from otobot.trading.state import ManualOp, TradingState
from otobot.trading.tracker import CycleOrders, TrackedOrder

D = Decimal
TIMERS = Timers(buy_s=30.0, sell_s=600.0, settle_s=2.0, rung_s=20.0, between_s=1.5, last_fill_at=None)


def row(state: str = "selling", kind: str = "oto", symbol: str = "ALPHA_22USDT") -> CycleRow:
    return CycleRow(id=7, user="alice", day="2026-12-06", symbol=symbol, base_asset="ALPHA_22", quote_asset="USDT",
                    mul_point=1, state=state, reason=None, working_price=D("48"), pending_price=D("48.4"),
                    quantity=D("0.2"), pay_amount=D("9.6"), intent_ms=1, placed_ms=2, closed_ms=None,
                    order_list_id="9", kind=kind)


def filled_cycle(bought: str, fee: str, sold: str, *, quote_in: str = "9.6", quote_out: str = "9.68") -> CycleOrders:
    """A cycle whose BUY bought `bought` base (fee `fee` in base) and whose SELL sold `sold`."""
    w = TrackedOrder(1, "working", "11", "BUY", D("48"), D(bought), "FILLED", cum_qty=D(bought),
                     cum_quote=D(quote_in), fee=D(fee), fee_asset="ALPHA_22")
    p = TrackedOrder(2, "pending", "12", "SELL", D("48.4"), D(sold), "FILLED", cum_qty=D(sold),
                     cum_quote=D(quote_out))
    return CycleOrders(working=w, pending=p)


def test_a_restart_with_a_cycle_in_flight_resumes_its_state_and_keeps_the_operators_pause() -> None:
    s = TradingState()
    attach_to = s.restored(D("123.4"), 5, Pause.operator, row("selling"))
    assert attach_to is State.selling
    assert (s.book.volume, s.book.cycles, s.paused_reason) == (D("123.4"), 5, Pause.operator)


def test_a_restart_between_cycles_starts_idle_or_paused() -> None:
    assert TradingState().restored(D(0), 0, None, None) is State.idle
    assert TradingState().restored(D(0), 0, Pause.unwind_failed, None) is State.paused


def test_every_live_state_gets_a_timer_after_a_restart_and_the_timer_is_the_tables() -> None:
    s = TradingState()
    for state in (State.pending, State.selling, State.unwinding, State.placing, State.cancelled):
        s.deadline = None
        s.enter(state, TIMERS, 100.0, restored=True)
        assert s.deadline == timer(state, TIMERS, 100.0, restored=True) and s.deadline is not None, state


def test_a_state_that_keeps_its_timer_keeps_it() -> None:
    s = TradingState(deadline=130.0)
    assert timer(State.partially_filled, TIMERS, 110.0) == KEEP
    s.enter(State.partially_filled, TIMERS, 110.0)
    assert s.deadline == 130.0  # the BUY's own timeout, not a fresh one from the partial fill


def test_a_component_asking_nothing_leaves_the_timer_alone() -> None:
    s = TradingState(deadline=5.0)
    s.look_again(10.0, None)
    assert s.deadline == 5.0
    s.look_again(10.0, 2.5)
    assert s.deadline == 12.5
    s.stop_timer()
    assert s.deadline is None


def test_closing_a_cycle_keeps_what_its_sell_could_not_carry_as_dust_and_counts_it() -> None:
    s = TradingState(quote_free=D("100"), dust=D("0.0001"))
    s.start_cycle(row(), filled_cycle("0.2", "0.0002", "0.1997"), None, confirmed=True)
    s.closed(s.orders, same_symbol=True, swept=False, now=50.0, retry_s=60.0, pause_s=1.5)
    assert s.dust == D("0.0002")  # 0.0001 before + (0.2 - 0.0002 fee - 0.1997 sold)
    assert (s.book.cycles, s.cycles_completed) == (1, 1)
    assert s.quote_free == D("100.08")  # follows the cycle: +9.68 sold -9.6 bought
    assert s.cycle_row is None and s.orders.working is None and s.fills_confirmed and s.cancelling is None
    assert s.planned_wait == 1.5 and s.sweep_after == 0.0


def test_a_cycle_on_an_old_symbol_leaves_no_dust_on_the_new_one() -> None:
    s = TradingState()
    s.start_cycle(row(symbol="OLDUSDT"), filled_cycle("0.2", "0.0002", "0.1997"), "pending", confirmed=False)
    s.closed(s.orders, same_symbol=False, swept=False, now=50.0, retry_s=60.0, pause_s=0.0)
    assert s.dust == 0


def test_a_sweep_that_sold_nothing_is_not_tried_again_for_a_while_and_is_no_cycle_of_the_day() -> None:
    s = TradingState()
    orders = CycleOrders(base_in=D("0.003"))
    s.start_cycle(row(kind="sweep"), orders, None, confirmed=True)
    s.closed(orders, same_symbol=True, swept=True, now=50.0, retry_s=60.0, pause_s=0.0)
    assert s.sweep_after == 110.0 and s.dust == D("0.003")
    assert (s.book.cycles, s.cycles_completed) == (0, 0)


def test_dust_between_cycles_is_what_sqlite_holds_less_the_cycle_in_flight() -> None:
    s = TradingState()
    s.held_between_cycles(D("0.0031"))
    assert s.dust == D("0.0031")
    s.start_cycle(row(), filled_cycle("0.2", "0.0002", "0"), None, confirmed=False)
    s.held_between_cycles(D("0.2008"))
    assert s.dust == D("0.001")
    s.held_between_cycles(D("0.1"))  # SQLite lags a fill memory already has: never negative
    assert s.dust == 0


def test_strays_and_a_late_cycle_count_as_live_orders_beside_the_cycles_own() -> None:
    s = TradingState()
    assert s.live_elsewhere() == 0
    s.stray_live.update({"a", "b"})
    s.late_cycle = 9
    assert s.live_elsewhere() == 3


def test_a_balance_is_read_again_once_it_would_be_stale() -> None:
    s = TradingState()
    assert s.balance_due(0.0, 0.0, 30.0)
    s.balance_read(AssetBalance(asset="USDT", free=D("50"), locked=D(0)), 10.0)
    assert s.quote_free == D("50") and not s.balance_due(20.0, 0.0, 30.0)
    assert s.balance_due(20.0, 25.0, 30.0)  # within the pause before the next place it would be 35 s old


def facts(s: TradingState) -> Facts:
    return s.facts(new_day=False, can_trade=True, dust=D(0), leftover=D("0.1"), sellable=True, rungs=3, buy_s=30.0,
                   sell_s=600.0)


def test_facts_come_from_the_state_and_are_handed_out_again_while_nothing_changed() -> None:
    s = TradingState(deadline=3.0, paused_reason=Pause.unwind_failed, late_cycle=4)
    loop = asyncio.new_event_loop()
    try:
        s.manual = ManualOp("flatten", loop.create_future(), flatten_pending=True)
        f = facts(s)
    finally:
        loop.close()
    assert (f.deadline, f.paused_reason, f.unwind_blocked, f.late_cycle, f.cancel_requested, f.flatten_requested,
            f.leftover, f.rungs) == (3.0, Pause.unwind_failed, True, True, True, True, D("0.1"), 3)
    assert facts(s) is f
    s.look_again(3.0, 1.0)
    assert facts(s) is not f and facts(s).deadline == 4.0
