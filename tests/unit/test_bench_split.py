"""The bench's split of a cycle's CPU: the floor, the SQLite writes, otobot's own work, and what 1 ms leaves."""

from __future__ import annotations

from typing import Any

import pytest

from otobot.bench.report import CPU_TARGET_MS, cpu_split, split_lines


@pytest.mark.parametrize(("cpu", "floor", "writes", "own", "budget"), [
    (2.355, 0.581, 0.529, 1.245, -0.11),   # 100 users this machine: the floor and the writes exceed 1 ms together
    (0.9, 0.3, 0.2, 0.4, 0.5),
    (1.0, 0.5, 0.5, 0.0, 0.0),
])
def test_split_adds_up_to_the_measured_cpu(cpu: float, floor: float, writes: float, own: float,
                                           budget: float) -> None:
    split = cpu_split({"cpu_ms_per_cycle": cpu, "floor_cpu_ms_per_cycle": floor, "sqlite_ms_per_cycle": writes})
    assert split == {"floor_ms": floor, "writes_ms": writes, "own_ms": own, "own_budget_ms": budget}
    assert split["floor_ms"] + split["writes_ms"] + split["own_ms"] == pytest.approx(cpu)
    assert split["own_budget_ms"] == pytest.approx(CPU_TARGET_MS - floor - writes)


@pytest.mark.parametrize("missing", ["cpu_ms_per_cycle", "floor_cpu_ms_per_cycle", "sqlite_ms_per_cycle"])
def test_no_split_without_all_three_measurements(missing: str) -> None:
    r: dict[str, Any] = {"cpu_ms_per_cycle": 2.0, "floor_cpu_ms_per_cycle": 0.5, "sqlite_ms_per_cycle": 0.5}
    del r[missing]
    assert cpu_split(r) is None
    assert split_lines(r) == []


def test_the_line_says_when_the_target_leaves_nothing() -> None:
    (line,) = split_lines({"cpu_ms_per_cycle": 2.355, "floor_cpu_ms_per_cycle": 0.581, "sqlite_ms_per_cycle": 0.529})
    assert "0.581 ms the CPU floor + 0.529 ms the SQLite writes + 1.245 ms otobot's own work" in line
    assert "would leave nothing (-0.11 ms)" in line
    (line,) = split_lines({"cpu_ms_per_cycle": 0.9, "floor_cpu_ms_per_cycle": 0.3, "sqlite_ms_per_cycle": 0.2})
    assert "a 1.0 ms cycle would leave 0.5 ms for it" in line


def test_the_line_says_when_the_floor_read_fewer_frames_than_the_daemon() -> None:
    base = {"cpu_ms_per_cycle": 3.043, "floor_cpu_ms_per_cycle": 2.538, "sqlite_ms_per_cycle": 0.417,
            "frames_per_cycle": {"trade": 526.9, "book": 1.5, "user": 4.9}}
    (line,) = split_lines({**base, "floor_cpu_frames_per_cycle": 396.4})
    assert "the floor's clients read 396.4 of the daemon's 533.3 frames a cycle before the simulator ran out" in line
    (line,) = split_lines({**base, "floor_cpu_frames_per_cycle": 530.0})
    assert "ran out" not in line
