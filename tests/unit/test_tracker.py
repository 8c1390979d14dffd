"""Cycle facts → the machine's next trigger: statuses merge forward, and every event order ends the same way."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import MachineError

from otobot.exchange import protocol
from otobot.exchange.models import ExecutionReport
from otobot.trading.cycle import TRANSITIONS, Cycle, attach, build_machine
from otobot.trading.tracker import CycleOrders, TrackedOrder, merge_status, next_trigger

D = Decimal

# §7.4: one complete OTO cycle on the user stream (S1, Sept 2025), `data` objects verbatim.
CYCLE_EVENTS_JSON = [
    '{"s":"ALPHA_373USDT","c":"web_164e079573c1491795e1ee245d5ed293","S":"BUY","o":"LIMIT","f":"GTC","q":"869.56000000",'
    '"p":"0.23000000","ap":"0","P":"0","x":"NEW","X":"NEW","i":"51481849","l":"0","z":"0","L":"0","t":"0","m":false,'
    '"ot":"LIMIT","st":1,"O":1759043608334,"Z":"0","Y":"0","Q":"0","ba":"ALPHA_373","qa":"USDT","id":12501197286,'
    '"il":"89863105","ct":"OTO","cp":"OTO_WORKING","e":"executionReport","T":1759043608334,"u":1759043608334,'
    '"E":1759043608346}',
    '{"s":"ALPHA_373USDT","c":"web_732ffda298914d2590743f2d4be9241e","S":"SELL","o":"LIMIT","f":"GTC","q":"0",'
    '"p":"0.00010000","ap":"0","P":"0","x":"NEW","X":"PENDING","i":"51481850","l":"0","z":"0","L":"0","t":"0",'
    '"m":false,"ot":"LIMIT","st":1,"O":1759043608334,"Z":"0","Y":"0","Q":"0","ba":"ALPHA_373","qa":"USDT",'
    '"id":12501197287,"il":"89863105","ct":"OTO","cp":"OTO_PENDING","e":"executionReport","T":1759043608334,'
    '"u":1759043608334,"E":1759043608346}',
    '{"s":"ALPHA_373USDT","c":"web_164e079573c1491795e1ee245d5ed293","S":"BUY","o":"LIMIT","f":"GTC","q":"869.56000000",'
    '"p":"0.23000000","ap":"0.226904689","P":"0","x":"TRADE","X":"FILLED","i":"51481849","l":"869.56000000",'
    '"z":"869.56000000","L":"0.22690469","n":"0.08695600","N":"ALPHA_373","t":"798491","m":false,"ot":"LIMIT","st":1,'
    '"O":1759043608334,"Z":"197.30724223","Y":"197.30724223","Q":"0","ba":"ALPHA_373","qa":"USDT","id":12501200714,'
    '"il":"89863105","ct":"OTO","cp":"OTO_WORKING","e":"executionReport","T":1759043609181,"u":1759043609181,'
    '"E":1759043609340}',
    '{"s":"ALPHA_373USDT","c":"web_732ffda298914d2590743f2d4be9241e","S":"SELL","o":"LIMIT","f":"GTC",'
    '"q":"869.47000000","p":"0.00010000","ap":"0","P":"0","x":"NEW","X":"NEW","i":"51481850","l":"0","z":"0","L":"0",'
    '"t":"0","m":false,"ot":"LIMIT","st":1,"O":1759043608334,"Z":"0","Y":"0","Q":"0","ba":"ALPHA_373","qa":"USDT",'
    '"id":12501200716,"il":"89863105","ct":"OTO","cp":"OTO_PENDING","e":"executionReport","T":1759043609181,'
    '"u":1759043609181,"E":1759043609341}',
    '{"s":"ALPHA_373USDT","c":"web_732ffda298914d2590743f2d4be9241e","S":"SELL","o":"LIMIT","f":"GTC",'
    '"q":"869.47000000","p":"0.00010000","ap":"0.226904680","P":"0","x":"TRADE","X":"PARTIALLY_FILLED",'
    '"i":"51481850","l":"200","z":"200","L":"0.22690468","n":"0.00453809","N":"USDT","t":"798492","m":true,'
    '"ot":"LIMIT","st":1,"O":1759043608334,"Z":"45.38093600","Y":"45.38093600","Q":"0","ba":"ALPHA_373","qa":"USDT",'
    '"id":12501205152,"il":"89863105","ct":"OTO","cp":"OTO_PENDING","e":"executionReport","T":1759043610496,'
    '"u":1759043610496,"E":1759043610678}',
    '{"s":"ALPHA_373USDT","c":"web_732ffda298914d2590743f2d4be9241e","S":"SELL","o":"LIMIT","f":"GTC",'
    '"q":"869.47000000","p":"0.00010000","ap":"0.226904679","P":"0","x":"TRADE","X":"FILLED","i":"51481850",'
    '"l":"669.47000000","z":"869.47000000","L":"0.22690468","n":"0.01519059","N":"USDT","t":"798492","m":true,'
    '"ot":"LIMIT","st":1,"O":1759043608334,"Z":"197.28681211","Y":"151.90587611","Q":"0","ba":"ALPHA_373",'
    '"qa":"USDT","id":12501205154,"il":"89863105","ct":"OTO","cp":"OTO_PENDING","e":"executionReport",'
    '"T":1759043610496,"u":1759043610496,"E":1759043610678}',
]
EVENTS = [ExecutionReport.parse(protocol.loads(e)) for e in CYCLE_EVENTS_JSON]
WORKING_NEW, PENDING_DORMANT, BUY_FILLED, PENDING_ACTIVE, SELL_PARTIAL, SELL_FILLED = EVENTS
STEP = D("0.01")


def order(role: str, status: str, *, cum: str = "0", fee: str = "0", fee_asset: str = "",
          quantity: str = "869.56") -> TrackedOrder:
    side = "BUY" if role == "working" else "SELL"
    return TrackedOrder(row_id=1, role=role, order_id=f"{role}-id", side=side, price=D("0.23"),
                        quantity=D(quantity), status=status, cum_qty=D(cum), fee=D(fee), fee_asset=fee_asset)


def cycle_orders(working: str, pending: str, *, w_cum: str = "0", p_cum: str = "0",
                 unwind: str | None = None) -> CycleOrders:
    orders = CycleOrders(working=order("working", working, cum=w_cum), pending=order("pending", pending, cum=p_cum))
    if unwind is not None:
        orders.unwinds.append(order("unwind", unwind))
    return orders


def fresh() -> CycleOrders:
    """The two legs as the bot holds them right after the place response."""
    return CycleOrders(
        working=TrackedOrder(1, "working", "51481849", "BUY", D("0.23"), D("869.56"), "NEW"),
        pending=TrackedOrder(2, "pending", "51481850", "SELL", D("0.0001"), D(0), "PENDING"))


def apply(orders: CycleOrders, r: ExecutionReport) -> None:
    """What the bot does with an event: merge the status forward, keep the highest cumulative fill."""
    o = orders.by_id(r.order_id)
    assert o is not None
    o.status = merge_status(o.status, r.status)
    if r.cum_qty > o.cum_qty:
        o.cum_qty, o.cum_quote = r.cum_qty, max(r.cum_quote, o.cum_quote)
        if r.commission > 0:
            o.fee, o.fee_asset = r.commission, r.commission_asset
    if o.role == "pending" and r.orig_qty > 0:
        o.quantity = r.orig_qty


def follow(cycle: Cycle, orders: CycleOrders, cancelling: str | None = None) -> list[str]:
    trail = []
    while (t := next_trigger(cycle.state, orders, cancelling)) is not None:
        assert cycle.trigger(t), t
        trail.append(t)
    return trail


def machine_in(state: str) -> Cycle:
    cycle = Cycle()
    attach(build_machine(), cycle, state)
    return cycle


# ------------------------------------------------------------------ merge_status


@pytest.mark.parametrize(("old", "new", "merged"), [
    ("INTENT", "PENDING", "PENDING"),
    ("PENDING", "NEW", "NEW"),
    ("NEW", "PENDING", "NEW"),  # a late dormant-leg event never sends an activated leg back
    ("NEW", "PARTIALLY_FILLED", "PARTIALLY_FILLED"),
    ("PARTIALLY_FILLED", "NEW", "PARTIALLY_FILLED"),
    ("PARTIALLY_FILLED", "FILLED", "FILLED"),
    ("FILLED", "PARTIALLY_FILLED", "FILLED"),
    ("FILLED", "CANCELED", "FILLED"),  # finals are sticky, even against another final
    ("CANCELED", "FILLED", "CANCELED"),
    ("EXPIRED", "NEW", "EXPIRED"),
    ("NOT_PLACED", "NEW", "NOT_PLACED"),
    ("NEW", "CANCELED", "CANCELED"),
    ("NEW", "NEW", "NEW"),
])
def test_statuses_only_move_forward_and_finals_are_sticky(old: str, new: str, merged: str) -> None:
    assert merge_status(old, new) == merged


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["INTENT", "PENDING", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED",
                                 "REJECTED"]), min_size=1, max_size=8))
def test_once_final_a_merged_status_never_changes(statuses: list[str]) -> None:
    status = "INTENT"
    final_at: str | None = None
    for s in statuses:
        status = merge_status(status, s)
        if final_at is None and status in ("FILLED", "CANCELED", "EXPIRED", "REJECTED"):
            final_at = status
        if final_at is not None:
            assert status == final_at


# ------------------------------------------------------------------ leftover


def test_leftover_uses_the_recorded_base_commission_of_the_buy() -> None:
    orders = CycleOrders(working=order("working", "FILLED", cum="1000", fee="0.5", fee_asset="ALPHA_373"),
                         pending=order("pending", "CANCELED"))
    assert orders.base_bought() == D("999.5")
    assert orders.leftover(D("1")) == D("999")


def test_leftover_estimates_the_buy_fee_at_one_basis_point_when_none_was_recorded() -> None:
    orders = CycleOrders(working=order("working", "FILLED", cum="1000"), pending=order("pending", "CANCELED"))
    assert orders.base_bought() == D("999.9")
    assert orders.leftover(D("0.1")) == D("999.9")


def test_a_commission_recorded_in_quote_is_not_subtracted_from_base() -> None:
    orders = CycleOrders(working=order("working", "FILLED", cum="1000", fee="0.02", fee_asset="USDT"),
                         pending=order("pending", "CANCELED"))
    assert orders.base_bought() == D("999.9")


def test_leftover_subtracts_the_pending_and_every_unwind_sale() -> None:
    orders = CycleOrders(working=order("working", "FILLED", cum="1000"), pending=order("pending", "CANCELED",
                                                                                      cum="400"))
    orders.unwinds += [order("unwind", "CANCELED", cum="100"), order("unwind", "NEW", cum="50")]
    assert orders.base_sold() == D("550")
    assert orders.leftover(D("1")) == D("449")  # 999.9 − 550 floored


def test_the_captured_cycle_leaves_nothing_to_unwind() -> None:
    orders = fresh()
    for r in EVENTS:
        apply(orders, r)
    assert orders.working is not None and orders.working.fee == D("0.086956")
    assert orders.leftover(STEP) == 0  # 869.473044 bought, 869.47 sold: 0.003 is below one step


def test_leftover_is_never_negative_and_zero_without_a_buy() -> None:
    assert CycleOrders().leftover(STEP) == 0
    orders = cycle_orders("FILLED", "FILLED", w_cum="100", p_cum="200")
    assert orders.leftover(STEP) == 0


def test_live_count_and_lookup_by_exchange_id() -> None:
    orders = fresh()
    assert orders.live_count() == 2
    assert orders.by_id("51481850") is orders.pending and orders.by_id("nope") is None
    apply(orders, BUY_FILLED)
    assert orders.live_count() == 1


# ------------------------------------------------------------------ next_trigger, state by state


def test_no_trigger_until_both_legs_are_known() -> None:
    assert next_trigger("pending", CycleOrders(working=order("working", "FILLED")), None) is None


@pytest.mark.parametrize(("working", "pending", "w_cum", "trigger"), [
    ("NEW", "PENDING", "0", None),
    ("PARTIALLY_FILLED", "PENDING", "100", "buy_partial"),
    ("FILLED", "PENDING", "869.56", "buy_filled"),
    ("NEW", "NEW", "0", "buy_filled"),  # pending activated: the BUY filled, its own event is late
    ("NEW", "PARTIALLY_FILLED", "0", "buy_filled"),
    ("NEW", "FILLED", "0", "buy_filled"),
    ("CANCELED", "PENDING", "0", "cancelled"),
    ("EXPIRED", "PENDING", "0", "cancelled"),
    ("REJECTED", "PENDING", "0", "cancelled"),
    ("CANCELED", "CANCELED", "100", "cancelled"),
])
def test_next_trigger_in_pending(working: str, pending: str, w_cum: str, trigger: str | None) -> None:
    assert next_trigger("pending", cycle_orders(working, pending, w_cum=w_cum), None) == trigger


@pytest.mark.parametrize(("working", "pending", "w_cum", "trigger"), [
    ("PARTIALLY_FILLED", "PENDING", "100", None),  # no second buy_partial
    ("FILLED", "PENDING", "869.56", "buy_filled"),
    ("PARTIALLY_FILLED", "NEW", "100", "buy_filled"),
    ("CANCELED", "PENDING", "100", "cancelled"),
    ("CANCELED", "CANCELED", "100", "cancelled"),
])
def test_next_trigger_in_partially_filled(working: str, pending: str, w_cum: str, trigger: str | None) -> None:
    assert next_trigger("partially_filled", cycle_orders(working, pending, w_cum=w_cum), None) == trigger


@pytest.mark.parametrize(("pending", "trigger"), [
    ("PENDING", None), ("NEW", None), ("PARTIALLY_FILLED", None), ("FILLED", "sell_filled"),
    ("CANCELED", "cancelled"), ("EXPIRED", "cancelled"), ("REJECTED", "cancelled"),
])
def test_next_trigger_in_selling(pending: str, trigger: str | None) -> None:
    assert next_trigger("selling", cycle_orders("FILLED", pending), None) == trigger


@pytest.mark.parametrize(("working", "pending", "cancelling", "trigger"), [
    ("NEW", "PENDING", "working", None),  # the cancel is not confirmed yet
    ("CANCELED", "PENDING", "working", None),  # the pending leg is still alive: wait for it
    ("CANCELED", "CANCELED", "working", "cancelled"),
    ("CANCELED", "EXPIRED", "working", "cancelled"),
    ("FILLED", "PENDING", "working", "buy_filled"),  # the BUY filled before our cancel reached it
    ("FILLED", "NEW", "working", "buy_filled"),
    ("NEW", "NEW", "working", "buy_filled"),  # pending activated, BUY fill event late
    ("FILLED", "FILLED", "working", "sell_filled"),
    ("FILLED", "CANCELED", "working", "cancelled"),
    ("FILLED", "NEW", "pending", None),  # a sell timeout: the pending cancel is not confirmed yet
    ("FILLED", "CANCELED", "pending", "cancelled"),
    ("FILLED", "FILLED", "pending", "sell_filled"),  # the SELL filled before our cancel reached it
    ("FILLED", "PARTIALLY_FILLED", "pending", None),
])
def test_next_trigger_in_cancelling(working: str, pending: str, cancelling: str, trigger: str | None) -> None:
    assert next_trigger("cancelling", cycle_orders(working, pending), cancelling) == trigger


@pytest.mark.parametrize(("unwind", "trigger"), [(None, None), ("NEW", None), ("PARTIALLY_FILLED", None),
                                                 ("CANCELED", None), ("FILLED", "unwound")])
def test_next_trigger_in_unwinding(unwind: str | None, trigger: str | None) -> None:
    assert next_trigger("unwinding", cycle_orders("CANCELED", "CANCELED", unwind=unwind), None) == trigger


@pytest.mark.parametrize("state", ["idle", "placing", "reconciling", "cancelled", "done", "paused", "finished"])
def test_states_driven_by_the_bot_not_by_order_facts_get_no_trigger(state: str) -> None:
    assert next_trigger(state, cycle_orders("FILLED", "FILLED"), None) is None


# ------------------------------------------------------------------ whole paths through the real machine


def test_the_captured_sequence_in_order_closes_the_cycle_through_selling() -> None:
    cycle, orders, trail = machine_in("pending"), fresh(), []
    for r in EVENTS:
        apply(orders, r)
        trail += follow(cycle, orders)
    assert trail == ["buy_filled", "sell_filled"] and cycle.state == "done"


def test_pending_leg_seen_filled_before_working_event_still_closes_the_cycle() -> None:
    cycle, orders = machine_in("pending"), fresh()
    apply(orders, SELL_FILLED)  # the working leg is still NEW in our books
    assert orders.working is not None and orders.working.status == "NEW"
    assert follow(cycle, orders) == ["buy_filled", "sell_filled"]
    assert cycle.state == "done"


def test_pending_leg_seen_new_before_working_fill_moves_to_selling_and_waits() -> None:
    cycle, orders = machine_in("pending"), fresh()
    apply(orders, PENDING_ACTIVE)
    assert follow(cycle, orders) == ["buy_filled"]
    assert cycle.state == "selling"
    apply(orders, BUY_FILLED)
    assert follow(cycle, orders) == []
    apply(orders, SELL_FILLED)
    assert follow(cycle, orders) == ["sell_filled"]


def test_cancelling_a_working_order_whose_buy_filled_first_goes_on_to_sell() -> None:
    cycle, orders = machine_in("pending"), fresh()
    cycle.trigger("buy_timeout")
    apply(orders, BUY_FILLED)
    assert follow(cycle, orders, "working") == ["buy_filled"] and cycle.state == "selling"


def test_a_cancelled_unfilled_oto_ends_cancelled() -> None:
    cycle, orders = machine_in("pending"), fresh()
    cycle.trigger("buy_timeout")
    assert orders.working is not None and orders.pending is not None
    orders.working.status = merge_status(orders.working.status, "CANCELED")
    assert follow(cycle, orders, "working") == []  # pending leg not confirmed dead yet
    orders.pending.status = merge_status(orders.pending.status, "CANCELED")
    assert follow(cycle, orders, "working") == ["cancelled"] and cycle.state == "cancelled"
    assert orders.leftover(STEP) == 0


def test_a_partial_buy_then_cancel_leaves_base_to_unwind_and_the_unwind_fill_finishes() -> None:
    cycle, orders = machine_in("pending"), fresh()
    assert orders.working is not None and orders.pending is not None
    orders.working.status, orders.working.cum_qty = "PARTIALLY_FILLED", D("300")
    assert follow(cycle, orders) == ["buy_partial"]
    cycle.trigger("buy_timeout")
    orders.working.status = merge_status(orders.working.status, "CANCELED")
    orders.pending.status = merge_status(orders.pending.status, "CANCELED")
    assert follow(cycle, orders, "working") == ["cancelled"]
    assert orders.leftover(STEP) == D("299.97")
    cycle.trigger("unwind")
    orders.unwinds.append(order("unwind", "NEW", quantity="299.97"))
    assert follow(cycle, orders) == []
    orders.unwinds[-1].status = "FILLED"
    assert follow(cycle, orders) == ["unwound"] and cycle.state == "done"


def test_a_sell_timeout_cancel_that_loses_to_the_fill_still_ends_done() -> None:
    cycle, orders = machine_in("selling"), fresh()
    cycle.trigger("sell_timeout")
    for r in EVENTS:
        apply(orders, r)
    assert follow(cycle, orders, "pending") == ["sell_filled"] and cycle.state == "done"


def test_a_trigger_the_table_does_not_allow_raises() -> None:
    cycle = machine_in("selling")
    with pytest.raises(MachineError):
        cycle.trigger("buy_partial")


# ------------------------------------------------------------------ any order of the captured events


def simulate(state: str, trigger: str) -> str:
    """The destination TRANSITIONS gives `trigger` from `state` (a second, table-only model of the machine)."""
    for t, sources, dest in TRANSITIONS:
        if t == trigger and state in ([sources] if isinstance(sources, str) else sources):
            return dest
    raise AssertionError(f"no transition {trigger} from {state}")


@settings(max_examples=200, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=4))
def test_any_permutation_with_replays_of_the_captured_events_ends_done(order_: list[ExecutionReport],
                                                                       replays: list[ExecutionReport]) -> None:
    orders, state = fresh(), "pending"
    machine_cycle = machine_in("pending")
    for r in [*order_, *replays]:
        apply(orders, r)
        while (t := next_trigger(state, orders, None)) is not None:
            state = simulate(state, t)
            assert machine_cycle.trigger(t)
            assert machine_cycle.state == state
    assert state == "done"
    assert orders.working is not None and orders.pending is not None
    assert orders.working.status == orders.pending.status == "FILLED"
    assert orders.working.cum_qty == D("869.56") and orders.pending.cum_qty == D("869.47")
    assert orders.pending.quantity == D("869.47")
    assert orders.leftover(STEP) == 0
