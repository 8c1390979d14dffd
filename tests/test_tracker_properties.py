"""Order of events must not matter: any permutation, with duplicates, of the captured OTO cycle (§7.4), merged the
way the bot merges them and driven through the real machine, ends the cycle `done` with the right quantities."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange import protocol as p
from otobot.exchange.models import ExecutionReport
from otobot.trading.cycle import Cycle, attach, build_machine
from otobot.trading.tracker import CycleOrders, TrackedOrder, merge_status, next_trigger

FIX = Path(__file__).resolve().parent / "fixtures" / "captures_user_stream.jsonl"
EVENTS = [ExecutionReport.parse(f["data"]) for f in map(p.loads, FIX.read_text().splitlines()) if "data" in f]


def fresh() -> CycleOrders:
    return CycleOrders(
        working=TrackedOrder(1, "working", "51481849", "BUY", Decimal("0.23"), Decimal("869.56"), "NEW"),
        pending=TrackedOrder(2, "pending", "51481850", "SELL", Decimal("0.0001"), Decimal(0), "PENDING"))


def apply(orders: CycleOrders, r: ExecutionReport) -> None:
    o = orders.by_id(r.order_id)
    assert o is not None
    o.status = merge_status(o.status, r.status)
    if r.cum_qty > o.cum_qty:
        o.cum_qty, o.cum_quote = r.cum_qty, max(r.cum_quote, o.cum_quote)
    if o.role == "pending" and r.orig_qty > 0:
        o.quantity = r.orig_qty


@settings(max_examples=300, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=4))
def test_any_order_and_any_duplicates_of_the_captured_cycle_end_done(order: list[ExecutionReport],
                                                                     dups: list[ExecutionReport]) -> None:
    machine = build_machine()
    cycle = Cycle()
    attach(machine, cycle, "pending")
    orders = fresh()
    for r in [*order, *dups]:
        apply(orders, r)
        while (t := next_trigger(cycle.state, orders, None)) is not None:
            assert cycle.trigger(t), t
    assert cycle.state == "done"
    assert orders.working is not None and orders.pending is not None
    assert orders.working.cum_qty == Decimal("869.56") and orders.pending.cum_qty == Decimal("869.47")
    assert orders.leftover(Decimal("0.01")) == 0  # fee-reduced buy fully sold: nothing to unwind


def test_a_pending_sell_seen_filled_before_the_buy_event_still_closes_the_cycle() -> None:
    machine = build_machine()
    cycle = Cycle()
    attach(machine, cycle, "pending")
    orders = fresh()
    apply(orders, EVENTS[-1])  # the SELL's final fill arrives first
    trail = []
    while (t := next_trigger(cycle.state, orders, None)) is not None:
        cycle.trigger(t)
        trail.append(t)
    assert trail == ["buy_filled", "sell_filled"] and cycle.state == "done"
