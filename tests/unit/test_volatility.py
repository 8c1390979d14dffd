"""The sliding price window: PriceWindow agrees with the naive reference whatever the trades."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.trading.volatility import PriceWindow, move_pct

D = Decimal


def test_an_empty_window_has_no_move() -> None:
    assert PriceWindow(60).move_pct(100.0) == 0


def test_the_move_is_max_minus_min_over_min_in_percent() -> None:
    w = PriceWindow(60)
    for t, p in ((0.0, "100"), (1.0, "103"), (2.0, "101")):
        w.add(t, D(p))
    assert w.move_pct(2.0) == D(3)


def test_a_price_exactly_at_the_window_edge_still_counts_and_expires_just_after() -> None:
    w = PriceWindow(10)
    w.add(0.0, D("100"))
    w.add(5.0, D("110"))
    assert w.move_pct(10.0) == D(10)  # t=0 is exactly 10 s old: inside
    assert w.move_pct(10.5) == D(0)  # t=0 expired; only 110 remains
    assert w.move_pct(15.0) == D(0)
    assert w.move_pct(15.5) == D(0)  # empty


def test_a_new_low_after_a_high_is_measured_against_that_high() -> None:
    w = PriceWindow(60)
    w.add(0.0, D("200"))
    w.add(1.0, D("100"))
    assert w.move_pct(1.0) == D(100)


events = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=30.0, allow_nan=False),
              st.decimals(min_value=D("0.000001"), max_value=D("1000"), places=6, allow_nan=False,
                          allow_infinity=False),
              st.floats(min_value=0.0, max_value=30.0, allow_nan=False)),
    min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(window=st.sampled_from([0.5, 1.0, 5.0, 10.0, 60.0]), trades=events)
def test_price_window_matches_the_naive_reference_at_every_step(
        window: float, trades: list[tuple[float, Decimal, float]]) -> None:
    w = PriceWindow(window)
    seen: list[tuple[float, Decimal]] = []
    t = 0.0
    for gap, price, query_lag in trades:
        t += gap  # non-decreasing trade times
        w.add(t, price)
        seen.append((t, price))
        assert w.move_pct(t) == move_pct(seen, t, window)
        later = t + query_lag  # a guard check some time after the trade, before the next one
        assert w.move_pct(later) == move_pct(seen, later, window)
        t = later


repeating = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
              st.sampled_from([D("1"), D("1.00"), D("1.5"), D("2"), D("0.5")]),
              st.booleans()),
    min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(window=st.sampled_from([0.5, 1.0, 5.0]), trades=repeating)
def test_runs_of_one_price_take_the_short_path_and_still_match_the_reference(
        window: float, trades: list[tuple[float, Decimal, bool]]) -> None:
    # Few prices, so most trades repeat the last one (the short path); queries only now and then, so expiry
    # is left to the next new price or query for long stretches.
    w = PriceWindow(window)
    seen: list[tuple[float, Decimal]] = []
    t = 0.0
    for gap, price, query in trades:
        t += gap
        w.add(t, price)
        seen.append((t, price))
        if query:
            assert w.move_pct(t) == move_pct(seen, t, window)
    assert w.move_pct(t) == move_pct(seen, t, window)
    assert w.move_pct(t + window + 1) == 0


def test_a_repeated_price_keeps_the_window_alive_from_its_newest_time() -> None:
    w = PriceWindow(10)
    w.add(0.0, D("100"))
    w.add(1.0, D("120"))
    for t in (2.0, 6.0, 10.5):
        w.add(t, D("120"))  # the same price again: only the newest entry's time moves on
    assert w.move_pct(10.5) == 0  # 100 (t=0) left the window; 120 is all that remains
    assert w.move_pct(20.5) == 0 and w.move_pct(20.6) == 0  # 120 was last seen at 10.5, so it lives to 20.5
    w.add(21.0, D("120"))  # after the window emptied, the same price starts a fresh window
    w.add(22.0, D("90"))
    assert w.move_pct(22.0) == (D("120") - D("90")) / D("90") * 100
