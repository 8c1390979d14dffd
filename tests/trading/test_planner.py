"""The cost model behind `otobot plan`: a cycle's cost on a book, cycles/time/balance to a target, the choice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.exchange.book import Level
from otobot.trading import daybook as points
from otobot.trading.planner import (
    Candidate,
    CycleCost,
    Target,
    choose,
    cycle_cost,
    plan_token,
    seconds_per_cycle,
    spread_bps,
)

D = Decimal
STEP = D("0.01")


def lv(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    return tuple((D(p), D(q)) for p, q in pairs)


# (name, bids, asks, quote amount, expected cost in bps of buy volume (± 0.1), depth ok)
CYCLES = [
    ("top of book covers: spread + 2 fees", lv(("9.99", "1000")), lv(("10.01", "1000")), "100", D("21.98"), True),
    ("a thin top ask adds slippage", lv(("9.99", "1000")), lv(("10.01", "5"), ("10.05", "1000")), "100", D("41.81"),
     True),
    ("a bid side too thin to sell into", lv(("9.99", "1")), lv(("10.01", "1000")), "100", None, False),
    ("no asks at all", lv(("9.99", "1000")), (), "100", None, False),
    ("a crossed book pays the cross back", lv(("10.05", "1000")), lv(("10.00", "1000")), "100", D("-47.96"), True),
]


@pytest.mark.parametrize(("name", "bids", "asks", "amount", "bps", "depth_ok"), CYCLES, ids=[c[0] for c in CYCLES])
def test_cycle_cost(name: str, bids: tuple[Level, ...], asks: tuple[Level, ...], amount: str, bps: Decimal | None,
                    depth_ok: bool) -> None:
    c = cycle_cost(bids, asks, D(amount), STEP)
    assert c.depth_ok is depth_ok
    if bps is not None:
        assert c.cost_bps is not None and abs(c.cost_bps - bps) < D("0.1"), c.cost_bps


def test_spread_is_in_bps_of_the_mid_and_negative_when_crossed() -> None:
    assert spread_bps(lv(("9.99", "1")), lv(("10.01", "1"))) == D(20)
    assert spread_bps(lv(("10.01", "1")), lv(("9.99", "1"))) == D(-20)
    assert spread_bps((), lv(("10", "1"))) is None


TOP = cycle_cost(lv(("9.99", "1000")), lv(("10.01", "1000")), D(100), STEP)  # buys 99.9999 per cycle


# (name, target, mul, pause, requests/s, cycles, seconds)
PLANS = [
    ("a volume target rounds cycles up", Target("volume", D(1000)), 1, D(1), D(2), 11, D("14.3")),
    ("a points target needs less volume on a 4x token", Target("points", D(10)), 4, D(1), D(2), 3, D("3.9")),
    ("the same points on a 1x token", Target("points", D(10)), 1, D(1), D(2), 11, D("14.3")),
    ("no pause: the rate limit sets the pace", Target("volume", D(500)), 1, D(0), D("0.5"), 6, D(24)),
]


@pytest.mark.parametrize(("name", "target", "mul", "pause", "rps", "cycles", "seconds"), PLANS,
                         ids=[c[0] for c in PLANS])
def test_plan_token(name: str, target: Target, mul: int, pause: Decimal, rps: Decimal, cycles: int,
                    seconds: Decimal) -> None:
    c = plan_token("T", mul, TOP, target, D(100), pause, rps, reserve=D(5))
    assert c.cycles == cycles and c.seconds == seconds
    assert c.cost_quote == TOP.loss_quote * cycles
    assert c.balance_needed == D(100) + c.cost_quote + D(5)
    assert c.volume_needed == points.target_volume(target.kind, target.value, mul)
    if target.kind == "points":
        assert c.points_reached >= int(target.value)


def test_seconds_per_cycle_is_the_pause_plus_round_trips_or_the_rate_limit() -> None:
    assert seconds_per_cycle(D(1), D(2)) == D("1.3")
    assert seconds_per_cycle(D(0), D(1)) == D(2)


def book_with_spread(bps: int, mid: Decimal = D(10), qty: str = "100000") -> CycleCost:
    half = mid * bps / 20000
    return cycle_cost(lv((str(mid - half), qty)), lv((str(mid + half), qty)), D(20), D("0.0001"))


def test_a_4x_token_with_twice_the_spread_is_the_cheaper_way_to_points() -> None:
    target = Target("points", D(15))
    tight_1x = plan_token("KOGE", 1, book_with_spread(4), target, D(20), D(1), D(2))
    wide_4x = plan_token("AOP", 4, book_with_spread(8), target, D(20), D(1), D(2))
    mid_2x = plan_token("NEX", 2, book_with_spread(6), target, D(20), D(1), D(2))
    assert tight_1x.cycle.spread_bps < wide_4x.cycle.spread_bps  # type: ignore[operator]
    assert choose([tight_1x, wide_4x, mid_2x]) is wide_4x
    assert wide_4x.cycle.counted_bps(4) < mid_2x.cycle.counted_bps(2) < tight_1x.cycle.counted_bps(1)  # type: ignore
    # Widen the 4x token's spread enough and the choice moves.
    widened = plan_token("AOP", 4, book_with_spread(40), target, D(20), D(1), D(2))
    assert choose([tight_1x, widened, mid_2x]) is mid_2x


def test_a_token_without_depth_is_never_chosen_and_none_may_be_usable() -> None:
    thin = cycle_cost(lv(("9.99", "0.5")), lv(("10.01", "1000")), D(100), STEP)
    cheap_but_thin = plan_token("THIN", 4, thin, Target("volume", D(100)), D(100), D(1), D(2))
    ok = plan_token("OK", 1, TOP, Target("volume", D(100)), D(100), D(1), D(2))
    assert not cheap_but_thin.usable and choose([cheap_but_thin, ok]) is ok
    assert choose([cheap_but_thin]) is None


def test_ties_go_to_the_faster_token() -> None:
    slow = Candidate("A", 1, TOP, D(100), 2, D(1), D(10), D(0), 6)
    fast = Candidate("B", 1, TOP, D(100), 2, D(1), D(5), D(0), 6)
    assert choose([slow, fast]) is fast


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.sampled_from([1, 2, 4]), st.integers(5, 500), st.integers(1, 60))
def test_planned_cycles_always_reach_the_points_target(spread: int, mul: int, amount: int, target: int) -> None:
    half = D(spread) / 2000
    cycle = cycle_cost(lv((str(10 - half), "1000000")), lv((str(10 + half), "1000000")), D(amount), STEP)
    c = plan_token("T", mul, cycle, Target("points", D(target)), D(amount), D(1), D(2))
    assert c.cycles * cycle.buy_quote >= points.volume_for_points(target, mul) - D("0.00000001")
    assert c.points_reached >= target
    assert (c.cycles - 1) * cycle.buy_quote < points.volume_for_points(target, mul)  # not one cycle too many
