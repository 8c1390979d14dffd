"""The soak's verdict and table, and `otobot dbsize`'s estimate, from given numbers."""

from __future__ import annotations

from typing import Any

from otobot.bench.soak import render, summarize, verdict
from otobot.views.dbsize import estimate
from otobot.views.dbsize import render as render_size


def _rows(rss: list[float], cycles: list[int]) -> list[dict[str, Any]]:
    total = 0
    out = []
    for i, (r, c) in enumerate(zip(rss, cycles, strict=True), start=1):
        total += c
        out.append({"minute": float(i), "interval_s": 60.0, "cycles": c, "cycles_total": total,
                    "cycles_per_s": c / 60, "rss_mb": r, "reaction_p50_ms": 1.0, "reaction_p99_ms": 2.0,
                    "reactions": c, "db_bytes": total * 900, "load1": 1.0})
    return out


def test_an_hour_flat_after_minute_10_meets_the_limits() -> None:
    rows = _rows([60.0] * 9 + [70.0] * 51, [6000] * 60)
    s = summarize(rows)
    assert (s["rss_ref_minute"], s["rss_ref_mb"], s["rss_drift_pct"]) == (10.0, 70.0, 0.0)
    assert s["window_rows"] == 10 and s["cycles_per_s_drift_pct"] == 0.0
    assert verdict(s, 880.0) == {"rss_flat": True, "throughput_holds": True, "bytes_per_cycle_ok": True}


def test_creeping_memory_slowing_cycles_and_a_fat_file_are_each_named() -> None:
    rows = _rows([60.0 + i * 0.3 for i in range(60)], [6000] * 50 + [5000] * 10)
    s = summarize(rows)
    assert s["rss_drift_pct"] > 5 and s["cycles_per_s_drift_pct"] < -10
    v = verdict(s, 1800.0)
    assert v == {"rss_flat": False, "throughput_holds": False, "bytes_per_cycle_ok": False}
    text = render({"users": 10, "pause_between_cycles_s": 0, "mode": "steady", "seed": 1, "every_s": 60,
                   "cores": 2, "load_start": 1, "load_end": 2, "rows": rows, "summary": s,
                   "database": {"bytes": 1800 * 360_000, "cycles": 360_000, "bytes_per_cycle": 1800.0,
                                "by_table": {"audit": {"bytes": 700 * 360_000, "bytes_per_cycle": 700.0}}},
                   "verdict": v})
    assert text.count("NOT MET") == 3 and "audit" in text and "\n  60 " in text


def test_a_short_run_compares_its_halves() -> None:
    s = summarize(_rows([50, 51, 52, 53], [60, 60, 30, 30]))
    assert s["window_rows"] == 2 and s["rss_ref_minute"] == 2.0 and s["cycles_per_s_drift_pct"] == -50.0
    assert summarize(_rows([50], [1])) == {}


def _footprint(**kw: Any) -> dict[str, Any]:
    fp = {"path": "/var/lib/otobot/otobot.db", "bytes": 9_000_000, "wal_bytes": 0, "free_bytes": 0,
          "auto_vacuum": "incremental", "cycles": 10_100, "cycles_done": 10_000,
          "tables": {"orders": 4_000_000, "fills": 3_000_000, "cycles": 1_900_000, "daily_volume": 100_000},
          "cycles_by_day": {"2025-11-30": 6_000, "2025-11-29": 12_000}}
    return {**fp, **kw}


def test_dbsize_grows_at_todays_rate_and_retention_holds_it() -> None:
    noon = 1_764_504_000  # 2025-11-30 12:00 UTC
    e = estimate(_footprint(), noon, 90)
    assert e["bytes_per_cycle"] == 900 and e["cycles_per_day"] == 12_000  # 6,000 in half a day
    assert e["growth_bytes_per_day"] == 900 * 12_000
    assert e["held_at_bytes"] == 900 * 12_000 * 90 + 100_000  # daily totals are kept forever
    assert e["by_table_bytes_per_cycle"]["orders"] == 400.0
    lines = render_size(e)
    assert "10,000 completed cycles held" in lines[1]
    assert "retention_days 90 holds the file at about 972.1 MB at this rate" in lines[-1]


def test_dbsize_early_in_the_day_uses_yesterday_and_says_what_it_cannot_know() -> None:
    e = estimate(_footprint(), 1_764_460_800 + 600, 0)  # ten minutes into 2025-11-30
    assert e["cycles_per_day"] == 12_000 and "2025-11-29" in e["rate_basis"] and "held_at_bytes" not in e
    assert "nothing is pruned" in render_size(e)[-1]
    assert render_size(estimate(_footprint(cycles_done=0, tables={}, cycles_by_day={}), 1_764_504_000, 90))[-1] \
        == "no completed cycle yet: nothing to estimate from"
    old = render_size(estimate(_footprint(auto_vacuum="none"), 1_764_504_000, 90))
    assert "the next daemon start converts the file" in old[0]
