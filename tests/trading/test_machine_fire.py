"""cycle.fire on the lighter machine (issue 12) does exactly what transitions' own Machine does with the same
table: every trigger from every state, guards included, the change reported once with its reason."""

from __future__ import annotations

import pytest
from transitions import Machine, MachineError

from otobot.trading.cycle import PLACE_GUARDS, TRANSITIONS, Cycle, PlaceFacts, State, attach, build_machine, fire

TRIGGERS = sorted({t for t, _, _ in TRANSITIONS})


def reference_machine() -> Machine:
    """transitions' stock Machine over the same table and options: what build_machine must behave like."""
    table = [{"trigger": t, "source": s, "dest": d, **({"conditions": list(PLACE_GUARDS)} if t == "place" else {})}
             for t, s, d in TRANSITIONS]
    return Machine(model=[], states=State, transitions=table, initial=State.idle, auto_transitions=False,
                   send_event=True, after_state_change="_changed", model_attribute="state")


def outcome(machine: Machine, state: State, trigger: str, guards_pass: bool,
            *, direct: bool) -> tuple[object, State, list[tuple[str, str, str]]]:
    changes: list[tuple[str, str, str]] = []
    c = Cycle(on_change=lambda frm, to, why: changes.append((frm, to, why)))
    attach(machine, c, state)
    c.facts = PlaceFacts(user_stream_up=guards_pass, price_age_s=1.0, max_price_age_s=10.0, balance_ok=True)
    try:
        result: object = fire(machine, c, trigger, "because") if direct else c.trigger(trigger, reason="because")
    except MachineError:
        result = MachineError
    return result, c.state, changes


@pytest.mark.parametrize("guards_pass", [True, False])
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(State))
def test_fire_matches_the_stock_machine(state: State, trigger: str, guards_pass: bool) -> None:
    ours = outcome(build_machine(), state, trigger, guards_pass, direct=True)
    stock = outcome(reference_machine(), state, trigger, guards_pass, direct=False)
    assert ours == stock
    assert type(ours[1]) is State  # the model keeps the enum member, so `state is State.x` still holds


def test_a_transition_reports_its_source_dest_and_reason_as_plain_names() -> None:
    result, state, changes = outcome(build_machine(), State.selling, "sell_filled", True, direct=True)
    assert (result, state) == (True, State.done)
    assert changes == [("selling", "done", "because")]


def test_one_machine_drives_many_cycles_independently() -> None:
    machine = build_machine()
    a, b = Cycle(), Cycle()
    attach(machine, a, "pending")
    attach(machine, b, "selling")
    assert fire(machine, a, "buy_filled", "working BUY filled")
    assert (a.state, b.state) == (State.selling, State.selling)
    assert fire(machine, b, "sell_filled", "pending SELL filled")
    assert (a.state, b.state) == (State.selling, State.done)
