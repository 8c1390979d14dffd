"""Whose coins, as arithmetic: otobot's own base vs the user's, and the cap on every SELL otobot places itself."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otobot.trading.ledger import Ledger, sell_cap, unwind_quantity

D = Decimal

# (case, start (own, user), executions (ours, side, qty, fee), end (own, user))
STEPS = [
    ("otobot buys: its base less the base fee", (0, 0), [(True, "BUY", "100", "0.01")], ("99.99", 0)),
    ("otobot's round trip leaves the fee dust", (0, 0), [(True, "BUY", "100", "0.01"), (True, "SELL", "99.9", "0")],
     ("0.09", 0)),
    ("the user buys by hand: theirs, not otobot's", (0, 0), [(False, "BUY", "50", "0.005")], (0, "49.995")),
    ("the user sells by hand: otobot's leftover first, so it never sells again what the user sold",
     (D("0.4152"), 5), [(False, "SELL", "0.4152", "0")], (0, 5)),
    ("a larger hand sell takes the rest from the user's", (5, 20), [(False, "SELL", "8", "0")], (0, 17)),
    ("otobot never sells into the user's side by itself: own stops at 0, the excess is the user's (flatten --all)",
     (3, 10), [(True, "SELL", "7", "0")], (0, 6)),
    ("a sweep after a hand buy takes only otobot's dust", (D("0.3"), 40), [(True, "SELL", "0.3", "0")], (0, 40)),
]


@pytest.mark.parametrize(("start", "execs", "end"), [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_each_execution_moves_the_right_side_of_the_ledger(start: tuple[object, object],
                                                           execs: list[tuple[bool, str, str, str]],
                                                           end: tuple[object, object]) -> None:
    ledger = Ledger(D(str(start[0])), D(str(start[1])))
    for ours, side, qty, fee in execs:
        ledger = ledger.after(ours=ours, side=side, qty=D(qty), commission=D(fee))
    assert (ledger.own, ledger.user) == (D(str(end[0])), D(str(end[1])))


# (case, own, free, step, everything, cap)
CAPS = [
    ("own below free: own", "0.37", "50.37", "0.1", False, "0.3"),
    ("free below own (the user sold by hand): free", "12", "4.25", "0.01", False, "4.25"),
    ("nothing own: nothing, however much is free", "0", "999", "1", False, "0"),
    ("negative own is nothing", "-1", "10", "1", False, "0"),
    ("flatten --all: everything free", "0.37", "50.37", "0.1", True, "50.3"),
]


@pytest.mark.parametrize(("own", "free", "step", "everything", "cap"), [c[1:] for c in CAPS],
                         ids=[c[0] for c in CAPS])
def test_a_sell_otobot_places_is_capped_at_its_own_base_and_the_free_balance(own: str, free: str, step: str,
                                                                            everything: bool, cap: str) -> None:
    assert sell_cap(D(own), D(free), D(step), everything=everything) == D(cap)


def test_an_unwind_rung_sells_the_leftover_but_never_the_users_coins() -> None:
    # The README's old advice ("sell by hand, resume") made a rung sell the cycle's leftover out of the user's 5.
    assert unwind_quantity(D("0.4152"), own=D("0"), free=D("5"), step=D("0.0001")) == 0
    assert unwind_quantity(D("0.4152"), own=D("0.4152"), free=D("5.4152"), step=D("0.0001")) == D("0.4152")
    assert unwind_quantity(D("0.4152"), own=D("0.4152"), free=D("0.2"), step=D("0.0001")) == D("0.2")
