"""`otobot dbsize`: the database's size, bytes per cycle by table, growth per day at today's rate, and the size at
which retention holds it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from otobot.config.settings import ConfigError, load_global
from otobot.store.dbfile import DatabaseUnreadable
from otobot.store.footprint import measure
from otobot.store.opening import probe
from otobot.trading.daybook import utc_day

DAY_S = 86_400
MIN_ELAPSED_S = 3_600  # under an hour into the UTC day, today's count says too little: yesterday's whole day is used
# Rows kept forever (daily totals, users, tokens, symbols, meta): not part of what a cycle costs.
PER_CYCLE_TABLES = ("cycles", "orders", "fills", "audit")


def estimate(fp: dict[str, Any], now_s: float, retention_days: int) -> dict[str, Any]:
    """Bytes per completed cycle (every row the file holds, over the cycles done), cycles a day at today's rate
    (yesterday's whole day when today is under an hour old), growth a day, and the size retention holds it at."""
    used = fp["bytes"] - fp["free_bytes"]
    done = fp["cycles_done"]
    per_cycle = used / done if done else None
    today = utc_day(int(now_s * 1000))
    by_day: dict[str, int] = fp.get("cycles_by_day") or {}
    elapsed = now_s % DAY_S
    if by_day.get(today) and elapsed >= MIN_ELAPSED_S:
        rate, basis = by_day[today] * DAY_S / elapsed, f"today's {by_day[today]:,} cycles in {elapsed / 3600:.1f} h"
    else:
        past = [(d, n) for d, n in by_day.items() if d < today]
        rate, basis = (float(past[0][1]), f"{past[0][0]}'s {past[0][1]:,} cycles") if past else (0.0, "no cycles yet")
    forever = sum(b for t, b in fp["tables"].items() if t not in PER_CYCLE_TABLES)
    out: dict[str, Any] = {**fp, "used_bytes": used, "bytes_per_cycle": None if per_cycle is None else round(per_cycle),
                           "cycles_per_day": round(rate), "rate_basis": basis, "retention_days": retention_days}
    if per_cycle is not None:
        out["growth_bytes_per_day"] = round(per_cycle * rate)
        out["by_table_bytes_per_cycle"] = {t: round(b / done, 1) for t, b in fp["tables"].items()}
        if retention_days > 0:
            out["held_at_bytes"] = round(per_cycle * rate * retention_days + forever)
    return out


def _mb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def render(e: dict[str, Any]) -> list[str]:
    gives_back = ("pruning gives it back to the disk" if e["auto_vacuum"] == "incremental"
                  else "kept for reuse; the next daemon start converts the file so pruning gives space back")
    lines = [f"{e['path']}: {_mb(e['bytes'])}" + (f" (+ {_mb(e['wal_bytes'])} WAL)" if e["wal_bytes"] else "")
             + f", {_mb(e['free_bytes'])} free inside ({gives_back})"]
    if e.get("bytes_per_cycle") is None:
        return [*lines, "no completed cycle yet: nothing to estimate from"]
    lines.append(f"{e['cycles_done']:,} completed cycles held ({e['cycles']:,} cycle rows): "
                 f"{e['bytes_per_cycle']:,} bytes a cycle")
    lines.append(f"  {'table (with its indexes)':<26} {'size':>10} {'bytes/cycle':>12}")
    for table, size in e["tables"].items():
        lines.append(f"  {table:<26} {_mb(size):>10} {e['by_table_bytes_per_cycle'][table]:>12,.1f}")
    lines.append(f"growth at today's rate: {e['cycles_per_day']:,} cycles a day ({e['rate_basis']}) → "
                 f"{_mb(e['growth_bytes_per_day'])} a day")
    if e["retention_days"] > 0:
        lines.append(f"retention_days {e['retention_days']} holds the file at about {_mb(e['held_at_bytes'])} at "
                     "this rate")
    else:
        lines.append("retention_days 0: nothing is pruned, the file grows by the amount above every day")
    return lines


async def run_dbsize(args: argparse.Namespace) -> int:
    """Reads the file only (read-only SQLite, never creating or migrating it)."""
    try:
        settings = load_global(Path(args.config))
        probe(settings.database)
        fp = measure(settings.database, day=utc_day(int(time.time() * 1000)))
    except (ConfigError, DatabaseUnreadable) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    e = estimate(fp, time.time(), settings.retention_days)
    sys.stdout.write(json.dumps(e, indent=2) + "\n" if args.json else "\n".join(render(e)) + "\n")
    return 0
