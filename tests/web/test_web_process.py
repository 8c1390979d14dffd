"""`otobot run` as systemd starts it, with control.health_port set: the dashboard answers curl beside /health."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from otobot.sim.server import Simulator
from tests.conftest import TEST_SECRETS
from tests.e2e.test_process import daemon
from tests.helpers import wait_for, write_config

TOKEN = "feedfacecafebeef0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def with_control(config: Path, **control: Any) -> int:
    doc = yaml.safe_load(config.read_text())
    port = free_port()
    doc["control"] = {**doc["control"], "health_port": port, **control}
    config.write_text(yaml.safe_dump(doc))
    return port


async def curl(*args: str) -> tuple[int, str]:
    if shutil.which("curl") is None:
        pytest.skip("no curl on PATH")
    proc = await asyncio.create_subprocess_exec("curl", "-sS", "--max-time", "10", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode() + err.decode()


async def overview(port: int) -> dict[str, Any] | None:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/api/overview") as r:
            return await r.json() if r.status == 200 else None
    except aiohttp.ClientError:
        return None


async def test_a_short_run_serves_the_overview_naming_every_user_with_todays_progress(sim: Simulator,
                                                                                    tmp_path: Path) -> None:
    users = {"alice": {"target": {"value": 10**6}}, "bob": {"target": {"value": 10**6}}, "carol": {}}
    config = write_config(tmp_path, sim, users)
    port = with_control(config)
    async with daemon(config, tmp_path / "daemon.log"):
        async def everyone_traded() -> dict[str, Any] | None:
            doc = await overview(port)
            rows = {r["user"]: r for r in (doc or {}).get("users", [])}
            ok = set(rows) == set(users) and all(r["cycles"] >= 1 for r in rows.values())
            return doc if ok else None
        await wait_for(everyone_traded, 60, "every user's first cycle on the overview")

        code, page = await curl(f"http://127.0.0.1:{port}/")
        assert code == 0 and "<title>otobot</title>" in page and "/static/app.js" in page
        code, body = await curl(f"http://127.0.0.1:{port}/api/overview")
        assert code == 0
        doc = json.loads(body)
        assert doc["daemon"] == "running" and sorted(r["user"] for r in doc["users"]) == ["alice", "bob", "carol"]
        for r in doc["users"]:
            today, target = Decimal(r["today"]), Decimal(r["target"])
            assert today > 0 and r["done%"] == f"{today / target * 100:.1f}", r
        code, health = await curl(f"http://127.0.0.1:{port}/health")
        assert code == 0 and json.loads(health)["ok"] is True
        assert not any(secret in page + body for secret in TEST_SECRETS)


async def test_another_bind_runs_only_with_a_token_and_every_path_then_asks_for_it(sim: Simulator,
                                                                                  tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {}})
    with_control(config, bind="0.0.0.0")
    async with daemon(config, tmp_path / "refused.log") as proc:
        assert await asyncio.wait_for(proc.wait(), 30) == 2  # the config does not load: nothing started
    log = (tmp_path / "refused.log").read_text()
    assert "control.bind" in log and "control.web_token" in log

    port = with_control(config, bind="0.0.0.0", web_token=TOKEN)
    async with daemon(config, tmp_path / "daemon.log"):
        async def up() -> bool:
            code, out = await curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/api/overview")
            return code == 0 and out == "401"
        await wait_for(up, 30, "the port answering 401 without the token")
        code, body = await curl("-H", f"Authorization: Bearer {TOKEN}", f"http://127.0.0.1:{port}/api/overview")
        assert code == 0 and [r["user"] for r in json.loads(body)["users"]] == ["alice"]
    assert TOKEN not in (tmp_path / "daemon.log").read_text()
