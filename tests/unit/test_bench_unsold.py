"""The bench's end-of-run holdings line: one line with a total and the largest few, whatever the user count."""

from __future__ import annotations

import pytest

from otobot.bench.report import UNSOLD_SHOWN
from otobot.bench.report import unsold_lines as _unsold_lines


def held(n: int) -> dict[str, dict[str, str]]:
    return {f"u{i:04d}": {"base": f"0.{i:04d} KOGE", "value_quote": f"{i}.5000"} for i in range(n)}


@pytest.mark.parametrize(("users", "total", "largest", "more"), [
    (0, None, None, False),
    (1, "0.5000", "u0000 0.0000 KOGE (0.5000)", False),
    (3, "4.5000", "u0002 0.0002 KOGE (2.5000), u0001 0.0001 KOGE (1.5000), u0000 0.0000 KOGE (0.5000)", False),
    (1000, "500000.0000", "u0999 0.0999 KOGE (999.5000), u0998 0.0998 KOGE (998.5000), "
                          "u0997 0.0997 KOGE (997.5000)", True),
])
def test_unsold_is_one_line_with_the_total_and_the_largest(users: int, total: str | None, largest: str | None,
                                                           more: bool) -> None:
    lines = _unsold_lines(held(users))
    if total is None:
        assert lines == []
        return
    (line,) = lines
    assert f"{users} users hold base worth {total} USDT" in line
    assert f"largest: {largest}" in line
    assert line.count("(") == min(users, UNSOLD_SHOWN)
    assert line.endswith("; the rest in --json") is more


def test_the_largest_are_ordered_by_value_not_by_name_or_text() -> None:
    unsold = {"a": {"base": "1 X", "value_quote": "9.0000"}, "b": {"base": "1 X", "value_quote": "10.0000"},
              "c": {"base": "1 X", "value_quote": "0.0000"}, "d": {"base": "1 X", "value_quote": "100.0000"}}
    (line,) = _unsold_lines(unsold)
    assert "largest: d 1 X (100.0000), b 1 X (10.0000), a 1 X (9.0000)" in line  # "9" > "10" as text
    assert "119.0000 USDT" in line
