"""ctl cancel / flatten in the decision table: which states act on the operator's request, pure, no loop."""

from __future__ import annotations

import pytest

from otobot.trading.cycle import Action, Cancel, Cycle, Facts, Fire, Flatten, State, attach, build_machine, decide
from tests.trading.test_decide import FUTURE, NOW, PAST, facts, oto

S = State
OPERATOR = [Fire("operator_cancel", "cancelled by the operator"), Cancel("live")]
CASES: list[tuple[str, State, Facts, list[Action]]] = [
    ("pending, timer running: cancelled now", S.pending, facts(deadline=FUTURE, orders=oto("NEW", "PENDING"),
                                                                 cancel_requested=True), OPERATOR),
    ("partially_filled: cancelled now", S.partially_filled,
     facts(deadline=FUTURE, orders=oto("PARTIALLY_FILLED", "PENDING", "0.1"), cancel_requested=True), OPERATOR),
    ("selling: the SELL is cancelled too", S.selling,
     facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4"), cancel_requested=True), OPERATOR),
    ("pending, a fill comes first: followed, then cancelled", S.pending,
     facts(deadline=FUTURE, orders=oto("PARTIALLY_FILLED", "PENDING", "0.1"), cancel_requested=True),
     [Fire("buy_partial", "working BUY partly filled")]),
    ("selling, the SELL filled: nothing to cancel", S.selling,
     facts(deadline=FUTURE, orders=oto("FILLED", "FILLED", "0.4"), cancel_requested=True),
     [Fire("sell_filled", "pending SELL filled")]),
    ("cancelling: already on its way", S.cancelling,
     facts(deadline=FUTURE, orders=oto("FILLED", "NEW", "0.4"), cancelling="live", cancel_requested=True), []),
    ("placing: its outcome first", S.placing, facts(deadline=None, cancel_requested=True), []),
    ("idle, flatten before the pause", S.idle, facts(deadline=FUTURE, paused_reason="operator",
                                                     flatten_requested=True, cancel_requested=True), [Flatten()]),
    ("idle, flatten with no market: just pause", S.idle,
     facts(deadline=PAST, paused_reason="operator", flatten_requested=True, can_trade=False),
     [Fire("pause", "operator")]),
    ("paused, flatten", S.paused, facts(paused_reason="operator", flatten_requested=True), [Flatten()]),
    ("paused, flatten done: rests", S.paused, facts(paused_reason="operator", cancel_requested=True), []),
    ("finished, flatten", S.finished, facts(target_reached=True, flatten_requested=True), [Flatten()]),
]


@pytest.mark.parametrize(("state", "f", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide_on_the_operators_request(state: State, f: Facts, expected: list[Action]) -> None:
    assert decide(state, f, NOW) == expected


@pytest.mark.parametrize(("start", "trigger", "end"), [
    ("pending", "operator_cancel", "cancelling"), ("partially_filled", "operator_cancel", "cancelling"),
    ("selling", "operator_cancel", "cancelling"), ("paused", "sweep", "unwinding"),
    ("finished", "sweep", "unwinding"), ("idle", "sweep", "unwinding"),
])
def test_the_machine_allows_the_operators_transitions(start: str, trigger: str, end: str) -> None:
    c = Cycle()
    attach(build_machine(), c, start)
    assert c.trigger(trigger, reason="operator")
    assert c.state == end
