"""A terminal bar chart of daily volume against the target, in Unicode eighth blocks (pure, no dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from otobot.exchange.filters import fmt

EIGHTHS = " ▏▎▍▌▋▊▉"  # index n: n/8 of a cell filled; a full cell is FULL
FULL = "█"
MARK = "│"  # the target's column, where the bar does not reach it
HEAD = "▼"


def bar(value: Decimal, scale: Decimal, width: int) -> str:
    """`value` as a bar of `width` cells where `scale` fills them all, to the nearest eighth below."""
    if scale <= 0 or value <= 0:
        return ""
    eighths = int((min(value, scale) / scale * width * 8).to_integral_value(rounding=ROUND_FLOOR))
    full, part = divmod(eighths, 8)
    return FULL * full + (EIGHTHS[part] if part else "")


def target_column(target: Decimal, scale: Decimal, width: int) -> int | None:
    """The cell a target falls in (0-based), or None without a target."""
    if target <= 0 or scale <= 0:
        return None
    col = int((target / scale * width).to_integral_value(rounding=ROUND_HALF_UP))
    return max(min(col, width) - 1, 0)


def volume_chart(days: Sequence[tuple[str, Decimal]], target: Decimal, *, width: int = 40, unit: str = "") -> list[str]:
    """One line per (label, volume): label, bar, amount, ✓ when it reached the target; the target's column
    is marked with ▼ above and │ wherever a bar stops short of it. Scaled so the larger of the biggest day
    and the target fills `width` cells."""
    if not days:
        return []
    scale = max(max(v for _, v in days), target, Decimal(0))
    col = target_column(target, scale, width)
    label_w = max(len(label) for label, _ in days)
    amount_w = max(len(_amount(v)) for _, v in days)
    lines = []
    if col is not None:
        lines.append(" " * (label_w + 2 + col) + f"{HEAD} target {_amount(target)}{unit}")
    for label, value in days:
        cells = list(bar(value, scale, width).ljust(width))
        if col is not None and cells[col] == " ":
            cells[col] = MARK
        reached = " ✓" if target > 0 and value >= target else ""
        lines.append(f"{label.ljust(label_w)} │{''.join(cells)} {_amount(value).rjust(amount_w)}{unit}{reached}")
    return lines


def _amount(d: Decimal) -> str:
    return fmt(d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
