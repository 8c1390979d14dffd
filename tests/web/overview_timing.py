"""`python -m tests.web.overview_timing DIR`: the dashboard overview's server time at 100 users.

Builds (or reuses, --reuse) a database of realistic rows with `otobot.bench.db`, then serves the dashboard on an
ephemeral loopback port and times GET /api/overview computed afresh (its 1 s cache disabled), with a live status of
every user as the supervisor would hand it. Prints the median and p90 over the rounds, and the share spent in the
status rows (the same function `otobot status` runs)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from otobot.bench import db as benchdb
from otobot.config.settings import load_global
from otobot.ops.health import HealthServer
from otobot.ops.metrics import Metrics
from otobot.store.db import Store
from otobot.views import reports
from otobot.web import app as web_app
from otobot.web.app import Dashboard


def live_status(users: int) -> dict[str, Any]:
    """What Supervisor.status() returns for `users` running bots (the fields the overview reads)."""
    return {"users": [{"user": f"user{u:03d}", "state": "pending", "paused": None, "token": "ALPHA_373",
                       "symbol": "ALPHA_373USDT", "token_choice": None, "restarts": 0, "error": None}
                      for u in range(users)], "file_errors": {}}


class _LedgerLikeStore(Store):
    """holdings() as one indexed row per symbol (what a ledger table gives) instead of a walk of every fill."""

    async def holdings(self, user: str) -> list[Any]:
        return []


async def measure(root: Path, users: int, rounds: int, ledger_like: bool = False) -> dict[str, float]:
    settings = load_global(root / "otobot.yaml")
    store = await (_LedgerLikeStore if ledger_like else Store).open(settings.database)
    live = live_status(users)

    async def status() -> dict[str, Any]:
        return live

    web_app.OVERVIEW_FRESH_S = web_app.OVERVIEW_COST_FACTOR = 0.0  # every request computes the overview afresh
    dash = Dashboard(store, lambda: settings, status)
    server = HealthServer(lambda: {"ok": True}, Metrics(), port=0, routes=[dash.add_routes])
    await server.start()
    http, rows = [], []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(rounds):
                t0 = time.perf_counter()
                async with session.get(server.url + "/api/overview") as r:
                    doc = await r.json()
                http.append((time.perf_counter() - t0) * 1000)
                assert len(doc["users"]) == users, len(doc["users"])
                t0 = time.perf_counter()
                await reports.status_rows(settings, store, live)
                rows.append((time.perf_counter() - t0) * 1000)
    finally:
        await server.stop()
        await store.close()
    return {"overview_http_ms_median": statistics.median(http),
            "overview_http_ms_p90": sorted(http)[int(len(http) * 0.9)],
            "status_rows_ms_median": statistics.median(rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.web.overview_timing", description=__doc__)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--cycles-per-day", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--ledger-like", action="store_true",
                    help="time it with holdings() answering at once: the share of the fills walk")
    args = ap.parse_args(argv)
    root: Path = args.dir
    root.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        for p in root.glob("otobot.db*"):
            p.unlink()
        benchdb.write_config(root, args.users)
        n = benchdb.generate(root / "otobot.db", asyncio.run(benchdb.template_cycle()), args.users, args.days,
                             args.cycles_per_day, int(time.time() * 1000))
        print(f"generated {n:,} cycles", file=sys.stderr)
    for key, value in asyncio.run(measure(root, args.users, args.rounds, args.ledger_like)).items():
        print(f"{key}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
