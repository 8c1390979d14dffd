"""Pure Alpha points math: volume points = floor(log2(buy volume × multiplier)), and the volume a target needs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal


def volume_points(buy_volume: Decimal, mul_point: int) -> int:
    """$2 → 1 point, +1 per doubling (alpha-api.md §6.1); the token's multiplier scales the volume."""
    counted = buy_volume * mul_point
    if counted < 2:
        return 0
    # Exact integer log2 of the floor: no float rounding at the tier boundaries (e.g. exactly $8192).
    return int(counted.to_integral_value(rounding="ROUND_FLOOR")).bit_length() - 1


def volume_for_points(points: int, mul_point: int) -> Decimal:
    """The buy volume in quote that reaches `points` on a token with `mul_point`."""
    return (Decimal(2) ** points / Decimal(mul_point)).quantize(Decimal("0.00000001"), rounding=ROUND_CEILING)


def target_volume(kind: str, value: Decimal, mul_point: int) -> Decimal:
    """Today's buy-volume goal in quote for a `volume` or `points` target."""
    if kind == "points":
        return volume_for_points(int(value), mul_point)
    return value


def utc_day(ms: int) -> str:
    """The UTC trading day of a timestamp, the day Alpha points are cut on (00:00 UTC)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
