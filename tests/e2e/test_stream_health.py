"""Health covers each bot's price stream: a price stream that cannot connect is `down` and the daemon unhealthy,
while the user stream is up (it used to report healthy)."""

from __future__ import annotations

from pathlib import Path

import yaml

from otobot.sim.server import Simulator
from otobot.views.reports import ctl_text
from tests.e2e.test_daemon_ops import closed_port
from tests.helpers import running, wait_for, write_config


async def test_a_dead_price_stream_is_down_in_health(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    cfg = yaml.safe_load(config.read_text())
    cfg["exchange"]["market_ws_url"] = f"ws://127.0.0.1:{closed_port()}/w3w/wsa/stream"  # nothing listens
    config.write_text(yaml.safe_dump(cfg))
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.stream_up, 30, "alice's user stream up")
        health = await d.supervisor.health()
    alice = health["users"]["alice"]
    assert alice["user_stream"] is True and alice["price_stream"] == "down"
    assert health["ok"] is False
    assert "alice: " in ctl_text("health", health) and "price stream DOWN" in ctl_text("health", health)


async def test_a_live_price_stream_is_fresh(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}}})
    async with running(config) as d:
        await d.bot("alice")

        async def fresh() -> bool:
            return (await d.supervisor.health())["users"]["alice"]["price_stream"] == "fresh"
        await wait_for(fresh, 30, "alice's price stream fresh")
        health = await d.supervisor.health()
    assert health["ok"] is True
    assert "price stream fresh" in ctl_text("health", health)


async def test_a_quiet_price_stream_is_stale_and_the_bot_says_it_waits(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "max_price_age_s": 1,
                                                    "pause_between_cycles_s": 2}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 20, "first cycle")
        sim.market.paused = True  # no trades but its own, and it pauses 2 s between cycles: the price ages

        async def stale() -> bool:
            return (await d.supervisor.health())["users"]["alice"]["price_stream"] == "stale"
        await wait_for(stale, 30, "alice's price stream stale")
        health = await d.supervisor.health()

        async def waiting() -> bool:
            row = (await d.supervisor.status())["users"][0]
            return (row.get("waiting") or {}).get("reason") == "stale_price"
        await wait_for(waiting, 30, "alice waiting for a fresh price")
    assert health["ok"] is True  # connected: shown, not failed
    assert "price stream stale (last trade" in ctl_text("health", health)
