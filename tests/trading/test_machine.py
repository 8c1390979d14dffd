"""The OTO cycle machine: place only from idle with every guard passing; one machine, many independent cycles."""

from __future__ import annotations

import pytest
from transitions import MachineError

from otobot.trading.cycle import (
    LIVE_STATES,
    PLACE_GUARDS,
    TRANSITIONS,
    Cycle,
    PlaceFacts,
    State,
    attach,
    build_machine,
    detach,
    mermaid,
)

STATES = tuple(State)


def ready() -> PlaceFacts:
    """Facts under which every place guard says yes."""
    return PlaceFacts(paused_reason=None, live_orders=0, user_stream_up=True, price_age_s=1.0, max_price_age_s=10.0,
                      move_pct=0.5, max_move_pct=3.0, volume_today="12.5", target_reached=False,
                      balance_free="100", balance_ok=True)


def cycle_in(state: str = "idle", /, **facts: object) -> Cycle:
    c = Cycle()
    attach(build_machine(), c, state)
    f = ready()
    for k, v in facts.items():
        setattr(f, k, v)
    c.facts = f
    return c


def test_place_from_idle_with_every_guard_passing_moves_to_placing() -> None:
    c = cycle_in()
    assert c.refusal() is None
    assert c.trigger("place") is True
    assert c.state == "placing"


# Each guard failing alone, and the words the log would show.
FAILING = [
    ("not_paused", {"paused_reason": "insufficient balance"}, "the user is paused (insufficient balance)"),
    ("no_live_oto", {"live_orders": 2}, "2 order(s) of the last cycle are still live"),
    ("user_stream_up", {"user_stream_up": False}, "the user-data stream is not connected"),
    ("price_is_fresh", {"price_age_s": None}, "no trade price yet"),
    ("price_is_fresh", {"price_age_s": 12.34}, "the last trade price is 12.3 s old (max 10.0 s)"),
    ("book_is_fresh", {"book_refusal": "book stale: last change 12.0 s ago > 10 s"},
     "waiting for the order book (book stale: last change 12.0 s ago > 10 s)"),
    ("volatility_ok", {"move_pct": 4.5}, "the price moved 4.50 % within the window (max 3.0 %)"),
    ("target_open", {"target_reached": True}, "today's target is reached (volume 12.5)"),
    ("balance_ok", {"balance_ok": False}, "free quote balance 100 is below the order size plus reserve"),
]


@pytest.mark.parametrize(("guard", "facts", "words"), FAILING, ids=[f"{g}-{i}" for i, (g, _, _) in enumerate(FAILING)])
def test_each_guard_failing_alone_blocks_place_and_the_refusal_names_it(guard: str, facts: dict[str, object],
                                                                        words: str) -> None:
    c = cycle_in(**facts)
    assert getattr(c, guard)() is False
    assert all(getattr(c, g)() for g in PLACE_GUARDS if g != guard)
    refusal = c.refusal()
    assert refusal is not None and words in refusal
    assert c.trigger("place") is False
    assert c.state == "idle"


def test_the_guards_cover_every_place_guard() -> None:
    assert {g for g, _, _ in FAILING} == set(PLACE_GUARDS)


def test_price_age_and_volatility_at_their_limits_still_pass() -> None:
    c = cycle_in(price_age_s=10.0, move_pct=3.0)
    assert c.refusal() is None and c.trigger("place")


def test_the_refusal_names_the_first_failing_guard_in_table_order() -> None:
    c = cycle_in(paused_reason="operator", user_stream_up=False, balance_ok=False)
    assert c.refusal() == "the user is paused (operator)"


@pytest.mark.parametrize("state", [s for s in STATES if s != "idle"])
def test_place_from_any_state_but_idle_raises_even_with_every_guard_passing(state: str) -> None:
    c = cycle_in(state)
    with pytest.raises(MachineError):
        c.trigger("place")
    assert c.state == state


@pytest.mark.parametrize(("state", "trigger"), [
    ("idle", "placed"), ("idle", "buy_filled"), ("pending", "sell_filled"), ("selling", "buy_partial"),
    ("done", "cancelled"), ("paused", "place"), ("finished", "resume"), ("unwinding", "close"),
])
def test_a_trigger_not_in_the_table_for_the_state_raises(state: str, trigger: str) -> None:
    c = cycle_in(state)
    with pytest.raises(MachineError):
        c.trigger(trigger)


def test_the_machine_has_no_auto_transitions() -> None:
    c = cycle_in("selling")
    with pytest.raises(AttributeError):
        c.to_done()  # type: ignore[attr-defined]


def test_every_transition_in_the_table_works_from_each_of_its_sources() -> None:
    for trigger, sources, dest in TRANSITIONS:
        for src in sources if isinstance(sources, list) else [sources]:
            c = cycle_in(src)
            assert c.trigger(trigger, reason="test"), (trigger, src)
            assert c.state == dest


def test_a_full_round_trip_visits_the_states_in_order_and_reports_each_change() -> None:
    changes: list[tuple[str, str, str]] = []
    c = Cycle(on_change=lambda frm, to, why: changes.append((frm, to, why)))
    attach(build_machine(), c)
    c.facts = ready()
    for trigger in ("place", "placed", "buy_filled", "sell_filled", "next"):
        c.trigger(trigger, reason=f"because {trigger}")
    assert [(f, t) for f, t, _ in changes] == [("idle", "placing"), ("placing", "pending"), ("pending", "selling"),
                                               ("selling", "done"), ("done", "idle")]
    assert changes[2][2] == "because buy_filled"


def test_the_change_reason_defaults_to_the_trigger_name() -> None:
    changes: list[tuple[str, str, str]] = []
    c = Cycle(on_change=lambda frm, to, why: changes.append((frm, to, why)))
    attach(build_machine(), c, "pending")
    c.trigger("buy_timeout")
    assert changes == [("pending", "cancelling", "buy_timeout")]


def test_a_refused_place_reports_no_change() -> None:
    changes: list[tuple[str, str, str]] = []
    c = Cycle(on_change=lambda frm, to, why: changes.append((frm, to, why)))
    attach(build_machine(), c)
    c.facts = ready()
    c.facts.balance_ok = False
    assert c.trigger("place") is False
    assert changes == []


def test_one_machine_drives_many_cycles_independently() -> None:
    machine = build_machine()
    cycles = [Cycle() for _ in range(50)]
    for i, c in enumerate(cycles):
        attach(machine, c, "idle")
        c.facts = ready()
        c.facts.balance_ok = i % 2 == 0
    for c in cycles:
        c.trigger("place")
    assert [c.state for c in cycles] == ["placing" if i % 2 == 0 else "idle" for i in range(50)]
    cycles[0].trigger("placed")
    assert cycles[0].state == "pending" and cycles[2].state == "placing"
    detach(machine, cycles[1])
    assert cycles[1] not in machine.models and len(machine.models) == 49


def test_build_machine_accepts_models_up_front() -> None:
    a, b = Cycle(), Cycle()
    machine = build_machine([a, b])
    assert a.state == b.state == "idle"
    a.facts = ready()
    a.trigger("place")
    assert (a.state, b.state) == ("placing", "idle")
    assert set(machine.models) == {a, b}


def test_attach_can_restore_a_cycle_in_a_live_state() -> None:
    c = cycle_in("cancelling")
    assert c.trigger("cancelled") and c.state == "cancelled"


def test_live_states_are_exactly_those_between_placing_and_done() -> None:
    assert frozenset(STATES) - LIVE_STATES == {"idle", "done", "paused", "finished"}


def test_mermaid_contains_every_transition_of_the_table() -> None:
    diagram = mermaid()
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2" and "    [*] --> idle" in lines
    expected = 0
    for trigger, sources, dest in TRANSITIONS:
        for src in sources if isinstance(sources, list) else [sources]:
            label = "place [guards]" if trigger == "place" else trigger
            assert f"    {src} --> {dest}: {label}" in lines
            expected += 1
    assert len(lines) == expected + 2
