"""Alpha volume points (alpha-api.md §6.1): floor(log2(buy volume × multiplier)), its inverse, the UTC day."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otobot.trading.daybook import target_volume, utc_day, volume_for_points, volume_points

D = Decimal
QUANTUM = D("0.00000001")


@pytest.mark.parametrize(("volume", "points"), [
    ("2", 1), ("3.99", 1), ("4", 2), ("8192", 13), ("16384", 14), ("32768", 15), ("65536", 16),
    ("131874", 17),  # S3 user-score sample
    ("262929", 18),  # S3 user-score sample
    ("1.99", 0), ("0", 0),
])
def test_volume_points_match_the_documented_tiers(volume: str, points: int) -> None:
    assert volume_points(D(volume), 1) == points


def test_exactly_on_a_tier_boundary_counts_and_a_hair_below_does_not() -> None:
    assert volume_points(D("8192"), 1) == 13
    assert volume_points(D("8191.99999999"), 1) == 12


def test_the_multiplier_scales_volume_so_a_4x_token_needs_a_quarter() -> None:
    assert volume_points(D("2048"), 4) == 13  # 2048 × 4 = 8192
    assert volume_points(D("2047.99"), 4) == 12
    assert volume_points(D("0.5"), 4) == 1
    assert volume_points(D("4096"), 2) == 13


@pytest.mark.parametrize(("points", "mul", "volume"), [
    (13, 1, "8192"), (13, 4, "2048"), (15, 2, "16384"), (1, 1, "2"), (1, 4, "0.5"),
    (13, 3, "2730.66666667"),  # 8192 / 3 rounded up to the next 1e-8
])
def test_volume_for_points_is_the_smallest_volume_reaching_the_tier(points: int, mul: int, volume: str) -> None:
    assert volume_for_points(points, mul) == D(volume)


def test_a_points_target_becomes_the_volume_that_reaches_it_and_a_volume_target_stays_as_is() -> None:
    assert target_volume("points", D(15), 2) == D("16384")
    assert target_volume("points", D(13), 4) == D("2048")
    assert target_volume("volume", D("100.5"), 4) == D("100.5")


@settings(max_examples=200, deadline=None)
@given(points=st.integers(min_value=1, max_value=40), mul=st.sampled_from([1, 2, 3, 4]))
def test_volume_for_points_reaches_the_points_and_one_quantum_less_does_not(points: int, mul: int) -> None:
    v = volume_for_points(points, mul)
    assert volume_points(v, mul) >= points
    assert volume_points(v, mul) == points  # not overshooting into the next tier either
    assert volume_points(v - QUANTUM, mul) < points
    assert v == v.quantize(QUANTUM)


@settings(max_examples=200, deadline=None)
@given(volume=st.decimals(min_value=D(0), max_value=D("1e9"), places=8, allow_nan=False, allow_infinity=False),
       mul=st.sampled_from([1, 2, 4]))
def test_volume_points_is_the_tier_of_the_counted_volume(volume: Decimal, mul: int) -> None:
    p = volume_points(volume, mul)
    counted = volume * mul
    if counted < 2:
        assert p == 0
    else:
        assert D(2) ** p <= counted < D(2) ** (p + 1)


def test_utc_day_cuts_at_midnight_utc() -> None:
    midnight = 1779321600000  # 2026-05-21T00:00:00Z
    assert utc_day(midnight - 1) == "2026-05-20"
    assert utc_day(midnight) == "2026-05-21"
    assert utc_day(midnight + 86_400_000 - 1) == "2026-05-21"
