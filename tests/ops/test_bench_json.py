"""`otobot bench --json` on a tiny run: the headline keys are present and sane, the floor measured in the same run."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.cli.clirun import otobot


async def test_bench_json_has_headline_keys_and_floor(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    r = await otobot("bench", "--users", "2", "--duration", "5", "--pause", "0.2", "--writes-floor", "--json", str(out),
                     cwd=tmp_path, timeout=240, env={"TMPDIR": str(scratch)})
    assert r.code == 0, r.err
    data = json.loads(out.read_text())
    for key in ("cpu_ms_per_cycle", "reaction_p50_ms", "reaction_p99_ms", "floor_p50_ms", "floor_p99_ms",
                "cycles_per_s", "rss_mb_per_user", "cost_bps"):
        assert key in data, key
    assert data["cycles"] > 0 and data["cycles_per_s"] > 0
    assert data["cpu_ms_per_cycle"] > 0
    assert 0 <= data["reaction_p50_ms"] <= data["reaction_p99_ms"]
    # The floor is real measurements of the bare client, not a placeholder.
    assert data["floor_n"] > 0
    assert not math.isnan(data["floor_p50_ms"]) and 0 <= data["floor_p50_ms"] <= data["floor_p99_ms"]
    assert data["rss_mb_per_user"] >= 0
    assert 0 < data["daemon_cpu_pct_of_core"] and 0 < data["sim_cpu_pct_of_core"] and "saturated" in data
    assert isinstance(data["cost_bps"], float)
    assert "floor (bare aiohttp client" in r.out and "daemon CPU per completed cycle" in r.out
    # What the daemon read, from the simulator's own counters: each cycle has its user-stream reports, and the
    # price frames of its symbol (the two users' fills at least).
    assert data["frames_per_cycle"]["user"] >= 3 and data["frames_per_cycle"]["trade"] >= 1
    assert 0 <= data["loop_lag_ms"]["p50"] <= data["loop_lag_ms"]["p99"] <= data["loop_lag_ms"]["max"]
    assert data["gc_pause_ms"]["n"] >= 0 and data["sqlite_flush_ms"]["p50"] > 0
    assert 0 < data["sqlite_ms_per_cycle"] < data["cpu_ms_per_cycle"] * 2  # wall time on the loop, not CPU
    assert 0 < data["kept_up_pct"] <= 100
    assert data["event_loop"] in ("asyncio", "uvloop")
    assert "read per cycle:" in r.out
    # The CPU floor: bare clients read (about) the daemon's frames per cycle, so the CPU figure has its floor too.
    assert data["requests_per_cycle"] >= 1  # at least the OTO of each completed cycle
    assert data["floor_cpu_cycles"] > 0 and data["floor_cpu_ms_per_cycle"] > 0
    assert data["floor_cpu_frames_per_cycle"] >= data["frames_per_cycle"]["trade"]
    assert "CPU floor (bare aiohttp clients" in r.out
    # The split of a cycle's CPU, and SQLite alone replaying the window's recorded writes.
    split = data["cpu_split_ms_per_cycle"]
    assert split["floor_ms"] == data["floor_cpu_ms_per_cycle"] and split["writes_ms"] == data["sqlite_ms_per_cycle"]
    assert data["writes_floor_transactions"] > 0 and data["writes_floor_ms_per_cycle"] > 0
    assert "where a cycle's CPU goes:" in r.out and "SQLite alone, replaying the window's" in r.out
    assert list(scratch.iterdir()) == []  # its database and configs went with it
