"""The daemon process with a revoked bot token: trading goes on, and `otobot status`, `ctl status` and /health
all say Telegram commands are failing, with Telegram's words and the fix."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from otobot.sim.server import Simulator
from tests.botapi import serve_bot_api
from tests.e2e.test_daemon_ops import closed_port
from tests.e2e.test_day_to_day import REPO, with_telegram
from tests.e2e.test_process import daemon, db_cycles
from tests.helpers import wait_for, write_config


async def otobot_json(*args: str) -> Any:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, "--json", cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_a_revoked_bot_token_shows_in_status_and_health(sim: Simulator, tmp_path: Path) -> None:
    slow = {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}
    config = write_config(tmp_path, sim, {"alice": slow, "bob": slow})
    port = closed_port()
    cfg = yaml.safe_load(config.read_text())
    cfg["control"]["health_port"] = port
    config.write_text(yaml.safe_dump(cfg))
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with serve_bot_api() as api:
        api.revoked = True
        with_telegram(config, api.url, tmp_path)
        async with daemon(config, log):
            await wait_for(lambda: db_cycles(db, "bob"), 30, "bob trading")
            await wait_for(lambda: "Unauthorized" in log.read_text(), 30, "the 401 in the log")
            status = await otobot_json("status", "-c", str(config))
            assert status["telegram"]["ok"] is False and status["telegram"]["state"] == "failing"
            assert "HTTP 401 \"Unauthorized\"" in status["telegram"]["problem"]
            assert "notify.telegram.bot_token" in status["telegram"]["problem"]
            live = await otobot_json("ctl", "status", "-c", str(config))
            assert live["telegram"]["problem"] == status["telegram"]["problem"]
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/health") as r:
                health = await r.json()
            assert health["ok"] is True  # trading is fine; Telegram is shown, not a reason for a restart
            assert health["telegram"]["ok"] is False and "401" in health["telegram"]["problem"]
