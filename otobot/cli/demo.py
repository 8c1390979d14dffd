"""`otobot demo`: the simulator plus the real daemon (same code path as `run`) for 3 users, then a summary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from otobot.config.settings import load_global
from otobot.sim.config import default_sim_config
from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.views import reports

# (user, token, target kind, target value, quote per cycle): 3 users on 2 tokens, one a 4x points token.
DEMO_USERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("alice", "KOGE", "volume", "1500", "25"),
    ("bob", "KOGE", "volume", "900", "15"),
    ("carol", "AOP", "points", "10", "10"),  # 2^10 / 4x = 256 USDT bought
)


def write_demo_config(root: Path, sim: Simulator, users: int, *, log_level: str = "WARNING",
                      overrides: dict[str, Any] | None = None) -> Path:
    """A daemon config + user files pointing at `sim`; returns the otobot.yaml path."""
    (root / "users").mkdir(parents=True, exist_ok=True)
    cfg = {
        "database": "otobot.db",
        "users_dir": "users",
        "exchange": {"rest_url": sim.rest_url, "market_ws_url": sim.market_ws_url, "user_ws_url": sim.user_ws_url},
        "logging": {"level": log_level},
        "control": {"socket": "otobot.sock"},
        "reliability": {"requests_per_second": 20.0, "request_burst": 20, "disconnect_grace_s": 30.0,
                        "unknown_settle_s": 1.0},
    }
    (root / "otobot.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    sim_users = sim.user_names()
    for i in range(users):
        name, token, kind, value, amount = DEMO_USERS[i % len(DEMO_USERS)]
        sim_user = sim_users[i]
        creds = sim.credentials(sim_user)
        user = {
            "enabled": True,
            "token": token,
            "target": {"kind": kind, "value": int(value) if kind == "points" else float(value)},
            "order": {"quote_amount": float(amount)},
            "pricing": {"mode": "percent", "buy_offset": 0.3, "sell_offset": 0.8},
            "timeouts": {"buy_s": 5, "sell_s": 10},
            "pause_between_cycles_s": 0.3,
            "credentials": {"source": "inline", "cookie": creds.cookie, "csrftoken": creds.csrftoken},
        }
        if overrides:
            user.update(overrides)
        suffix = "" if i < len(DEMO_USERS) else str(i)
        (root / "users" / f"{name}{suffix}.yaml").write_text(yaml.safe_dump(user, sort_keys=False))
    return root / "otobot.yaml"


async def _progress(config: Path, every_s: float) -> None:
    settings = load_global(config)
    while True:
        await asyncio.sleep(every_s)
        store = await Store.open(settings.database)
        try:
            rows = await reports.status_rows(settings, store, None)
        finally:
            await store.close()
        line = "  ".join(f"{r['user']}: {r['today']}/{r['target']} ({r['done%']}%, {r['cycles']} cycles)"
                         for r in rows)
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


async def run_demo(*, seconds: float = 30.0, users: int = 3) -> int:
    from otobot.daemon.run import run_daemon  # the daemon's whole stack, only when the demo really runs

    users = max(1, users)
    sim = Simulator(default_sim_config(users=users, seed=7))
    await sim.start()
    print(f"simulator on {sim.rest_url}; {users} users trading for {seconds:.0f} s "
          "(Ctrl-C stops early; the daemon's own SIGTERM path ends the demo)", flush=True)
    with tempfile.TemporaryDirectory(prefix="otobot-demo-") as tmp:
        config = write_demo_config(Path(tmp), sim, users)
        progress = asyncio.create_task(_progress(config, 5.0))
        loop = asyncio.get_running_loop()
        # The real stop path: SIGTERM to ourselves, handled by the supervisor exactly as under systemd.
        stopper = loop.call_later(seconds, os.kill, os.getpid(), signal.SIGTERM)
        try:
            code = await run_daemon(config)
        finally:
            stopper.cancel()
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
            await sim.stop()
        settings = load_global(config)
        store = await Store.open(settings.database)
        try:
            names = sorted(p.stem for p in settings.users_dir.iterdir())
            rows = [await reports.stats_row(store, name) for name in names]
        finally:
            await store.close()
    print("\nsummary (quote = USDT)")
    print(reports.table(rows, ["user", "cycles", "buy_volume", "sell_volume", "fees", "loss", "loss_bps"]))
    total = sum((Decimal(r["buy_volume"]) for r in rows), Decimal(0))
    print(f"total buy volume {total} USDT in {sum(int(r['cycles']) for r in rows)} cycles")
    sys.stdout.flush()
    return code
