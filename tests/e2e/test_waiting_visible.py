"""A volatility wait on the simulator, as the operator sees it: the live row's `waiting`, the status table's
waiting column, Telegram /status and an INFO line in the log (it used to be one DEBUG line and `idle`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from otobot.config.settings import load_global
from otobot.ops.tgcommands import status_text
from otobot.sim.server import Simulator
from otobot.views.reports import status_rows, table
from tests.helpers import running, wait_for, write_config


async def test_a_volatility_wait_shows_in_status_telegram_and_the_log(sim: Simulator, tmp_path: Path,
                                                                     logs: list[str]) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10000},
                                                    "volatility": {"window_s": 30, "max_move_pct": 1}}})
    async with running(config) as d:
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycles_completed >= 1, 20, "first cycle")
        sim.market.shock("ALPHA_22USDT", Decimal(5))

        async def waiting() -> bool:
            rows = (await d.supervisor.status())["users"]
            return bool(rows[0].get("waiting"))
        await wait_for(waiting, 20, "alice waiting")
        live = await d.supervisor.status()
        rows = await status_rows(load_global(config), d.store, live)

    w = live["users"][0]["waiting"]
    assert w["reason"] == "volatility" and isinstance(w["since_ms"], int)
    assert w["text"].startswith("volatility ") and w["text"].endswith(" % > 1 % in 30 s")
    [alice] = rows
    assert alice["waiting_reason"] == "volatility" and alice["waiting"].startswith(w["text"] + " since ")
    printed = table(rows, ["user", "state", "token", "today", "target", "done%", "cycles", "left_est", "loss",
                           "loss_bps", "paused", "waiting"])  # the columns `otobot status` prints
    assert alice["waiting"] in printed
    [line] = status_text(live).splitlines()
    assert line.startswith("alice: idle · ") and line.endswith(f" · waiting: {alice['waiting']}")
    assert any(line.startswith("INFO") and "Waiting (volatility): volatility " in line for line in logs)
    print("status prints:\n" + printed)
