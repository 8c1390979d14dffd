"""The bench's `saturated` line: which resource ran out, from the CPU shares and the loop's lag (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from otobot.bench.report import limit as _limit

FRAMES = {"trade": 129_516, "book": 289, "user": 1_192}


@pytest.mark.parametrize(("r", "words"), [
    ({"daemon_cpu_pct_of_core": 26, "sim_cpu_pct_of_core": 20, "cores": 2, "loop_lag_ms": {"p50": 0.2}}, None),
    ({"daemon_cpu_pct_of_core": 93, "sim_cpu_pct_of_core": 50, "cores": 2, "frames_per_s": FRAMES},
     "daemon CPU 93 % of one core (asyncio runs on one core; its timers ran 0 ms late, p50); it read 129,516 price, "
     "289 book and 1,192 user-stream frames/s"),
    # Below 85 % of a core but its timers are 60 ms late: behind its work all the same.
    ({"daemon_cpu_pct_of_core": 78, "sim_cpu_pct_of_core": 40, "cores": 2, "loop_lag_ms": {"p50": 60.0}},
     "daemon CPU 78 % of one core (asyncio runs on one core; its timers ran 60 ms late, p50)"),
    ({"daemon_cpu_pct_of_core": 60, "sim_cpu_pct_of_core": 97, "cores": 2}, "simulator CPU 97 % of one core"),
    ({"daemon_cpu_pct_of_core": 86, "sim_cpu_pct_of_core": 99, "cores": 2},
     "the machine's cores: daemon 86 % and simulator 99 % of a core each"),
    ({"daemon_cpu_pct_of_core": 80, "sim_cpu_pct_of_core": 80, "cores": 1},
     "the machine's 1 cores (daemon 80 % + simulator 80 %)"),
    ({"cores": 2}, None),
])
def test_the_resource_that_ran_out(r: dict[str, Any], words: str | None) -> None:
    found = _limit(r)
    assert (found is None) if words is None else (found is not None and found.startswith(words)), found
