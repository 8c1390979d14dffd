"""Test harness: config files for a simulator, an in-process daemon, polling, and the crash-safety invariants."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from otobot.bench import invariants
from otobot.bench.invariants import Invariants
from otobot.config.settings import GlobalConfig, load_global
from otobot.daemon.supervisor import CredentialSource, Supervisor
from otobot.sim.server import Simulator
from otobot.store.db import Store

FAST_USER: dict[str, Any] = {
    "token": "KOGE",
    "target": {"kind": "volume", "value": 60},
    "order": {"quote_amount": 20},
    "pricing": {"mode": "percent", "buy_offset": 0.3, "sell_offset": 0.8},
    "timeouts": {"buy_s": 3, "sell_s": 5},
    "pause_between_cycles_s": 0.05,
    "unwind": {"ladder_pct": [0.5, 1, 2, 5], "rung_timeout_s": 1},
}

FAST_RELIABILITY: dict[str, Any] = {
    "requests_per_second": 50, "request_burst": 50, "rest_timeout_s": 3, "unknown_settle_s": 0.5,
    "disconnect_grace_s": 30, "rest_poll_s": 0.3, "ws_backoff_max_s": 0.5, "market_stale_after_s": 10,
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_config(root: Path, sim: Simulator, users: dict[str, dict[str, Any]], *,
                 reliability: dict[str, Any] | None = None, log_level: str = "INFO") -> Path:
    """otobot.yaml + one file per user (name → overrides of FAST_USER), pointing at `sim`."""
    (root / "users").mkdir(parents=True, exist_ok=True)
    cfg = {
        "database": "otobot.db", "users_dir": "users", "logging": {"level": log_level},
        "control": {"socket": "otobot.sock"},
        "exchange": {"rest_url": sim.rest_url, "market_ws_url": sim.market_ws_url, "user_ws_url": sim.user_ws_url},
        "reliability": merge(FAST_RELIABILITY, reliability or {}),
    }
    (root / "otobot.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for name, extra in users.items():
        write_user(root, sim, name, extra)
    return root / "otobot.yaml"


def write_user(root: Path, sim: Simulator, name: str, extra: dict[str, Any] | None = None) -> Path:
    creds = sim.credentials(name)
    user = merge(FAST_USER, {"credentials": {"source": "inline", "cookie": creds.cookie,
                                             "csrftoken": creds.csrftoken}})
    user = merge(user, extra or {})
    path = root / "users" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(user, sort_keys=False))
    return path


@dataclass
class Daemon:
    supervisor: Supervisor
    store: Store
    settings: GlobalConfig

    async def bot(self, user: str, timeout: float = 10.0) -> Any:
        """The user's bot once the supervisor has started it."""
        def started() -> Any:
            slot = self.supervisor.slots.get(user)
            bot = slot.bot if slot is not None else None
            # The machine attaches `cycle.state` once the bot restored its cycle: until then `bot.cycle.state`
            # raises AttributeError, which made callers that poll it flaky on a loaded machine.
            return bot if bot is not None and hasattr(bot.cycle, "state") else None
        return await wait_for(started, timeout, f"bot {user} started")


@contextlib.asynccontextmanager
async def running(config: Path) -> AsyncIterator[Daemon]:
    """The supervisor in this event loop (signals not installed); stopped gracefully on exit."""
    settings = load_global(config)
    store = await Store.open(settings.database)
    sup = Supervisor(settings, store, CredentialSource(store, None))
    task = asyncio.create_task(sup.run(install_signals=False))
    try:
        yield Daemon(sup, store, settings)
    finally:
        sup.request_stop()
        await asyncio.wait_for(task, 20)
        await store.close()


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll (sync or async) `predicate` until truthy; fail with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def cycles_done(store: Store, user: str) -> int:
    return (await store.user_stats(user)).cycles


async def assert_clean(sim: Simulator, store: Store, user: str) -> None:
    """The exchange and SQLite agree exactly for `user` (no duplicate, no lost fill, no stray or overlapping OTO)."""
    inv = await check_invariants(sim, store, user)
    assert inv.ok, inv
    assert inv.base_gap < Decimal("0.001"), inv


async def check_invariants(sim: Simulator, store: Store, user: str) -> Invariants:
    """Issue #4's promises, checked against the simulator's own books (see otobot.bench.invariants)."""
    state = sim.state(user)
    orders = state["orders"]
    held = sum((Decimal(v["free"]) + Decimal(v["locked"]) for a, v in state["balances"].items() if a != "USDT"
                and a != "USDC"), Decimal(0))
    claimed = await store.claimed_order_ids(str(o["orderId"]) for o in orders)
    return invariants.check(orders, held, await store.fills(user), claimed)


@contextlib.asynccontextmanager
async def local_app(app: web.Application) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1, an ephemeral port; yields the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def local_http(handler: Callable[[web.Request], Any]) -> AsyncIterator[str]:
    """A local HTTP server answering every POST with `handler` (a fake Bot API, a webhook); yields its base URL."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    async with local_app(app) as port:
        yield f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def local_ws(path: str, handler: Callable[[web.Request], Any]) -> AsyncIterator[str]:
    """A local websocket endpoint at `path` served by `handler` (a fake exchange stream); yields its ws:// URL."""
    app = web.Application()
    app.router.add_get(path, handler)
    async with local_app(app) as port:
        yield f"ws://127.0.0.1:{port}{path}"


class RecordingLog:
    """Stands in for a loguru logger: keeps the INFO and WARNING lines, formatted; drops DEBUG."""

    def __init__(self) -> None:
        self.info_lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.info_lines.append(msg.format(*args))

    def warning(self, msg: str, *args: Any) -> None:
        self.warnings.append(msg.format(*args))

    def debug(self, msg: str, *args: Any) -> None:
        pass
