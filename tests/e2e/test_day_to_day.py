"""Day to day, as an operator runs it: `otobot history` and `otobot audit` as real subprocesses on the database
of a real run, and the daemon process answering Telegram and routing a user's notifications to their webhook."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day
from tests.botapi import CHAT, TOKEN, serve_bot_api
from tests.e2e.test_process import daemon, db_cycles
from tests.helpers import running, wait_for, write_config, write_user

REPO = Path(__file__).resolve().parents[2]


async def otobot(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_history_and_audit_read_the_database_of_a_real_run(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}}})
    async with running(config) as d:
        await wait_for(lambda: db_cycles(tmp_path / "otobot.db", "alice"), 30, "a cycle")
        await d.supervisor.pause("alice", "operator")
        await d.supervisor.resume("alice")
        write_user(tmp_path, sim, "alice", {"target": {"value": 60}, "pricing": {"buy_offset": 0.4}})
        await d.supervisor.reload()
        async def reached() -> bool:
            return (await d.store.day_volume("alice", utc_day(int(time.time() * 1000)))).buy_quote >= 60
        await wait_for(reached, 60, "alice's target of 60")
        good = (tmp_path / "users" / "alice.yaml").read_text()
        (tmp_path / "users" / "alice.yaml").write_text(good.replace("quote_amount: 20", "quote_amount: lots"))
        await d.supervisor.reload()
        (tmp_path / "users" / "alice.yaml").write_text(good)
        await d.supervisor.reload()  # back to what runs: no change to record
        await d.store.audit(int(time.time() * 1000), None, "reload", "changed: ['alice'], errors: ['bob']")

    code, out, err = await otobot("history", "alice", "--days", "3", "-c", str(config))

    assert code == 0, err
    lines = out.splitlines()
    today = utc_day(int(time.time() * 1000))
    assert lines[0] == "alice: buy volume per UTC day in USDT, target volume 60"
    assert lines[1].split() == ["day", "volume", "points", "target", "reached", "cycles", "fees", "cost_bps", "pauses"]
    row = lines[4].split()
    assert row[0] == today and float(row[1]) >= 60 and row[3:5] == ["60.00", "yes"] and int(row[5]) >= 3
    assert row[8] == "1"  # the operator's pause
    assert lines[2].split()[1:] == ["0.00", "0", "60.00", "no", "0", "0.0000", "-", "0"]  # a quiet day
    chart = lines[6:]
    assert "▼ target 60.00" in chart[0]
    assert chart[3].startswith(today[5:] + " │█") and chart[3].endswith(" ✓")

    code, out, err = await otobot("history", "alice", "--days", "2", "--json", "-c", str(config))
    doc = json.loads(out)
    assert code == 0 and doc["target"] == {"kind": "volume", "value": "60", "volume": "60", "mul_point": 1}
    assert [day["day"] for day in doc["days"]][-1] == today and doc["days"][-1]["reached"] is True

    code, out, err = await otobot("audit", "alice", "-c", str(config))
    assert code == 0, err
    kinds = [line.split()[2] for line in out.splitlines()]
    assert kinds[:3] == ["pause", "resume", "reload"]
    assert out.splitlines()[0].endswith("pause       operator")
    assert out.splitlines()[2].endswith("reload      changed pricing.buy_offset: 0.3 → 0.4")
    assert out.splitlines()[3].endswith("reload      rejected, old settings kept problems with order.quote_amount; "
                                        "see the log")
    assert out.splitlines()[-1].endswith("reload      changed")  # an old-style row, still read
    assert len(out.splitlines()) == 5
    assert "{" not in out and "[" not in out

    code, out, err = await otobot("audit", "alice", "--since", "2999-01-01", "-c", str(config))
    assert code == 0 and out == "no pauses, resumes, reloads, adoptions or strays recorded for alice\n"
    code, _, err = await otobot("audit", "alice", "--since", "last tuesday", "-c", str(config))
    assert code == 2 and "argument --since: 'last tuesday'" in err and "Traceback" not in err
    code, _, err = await otobot("history", "mallory", "-c", str(config))
    assert code == 1 and "no user 'mallory'" in err and "Traceback" not in err


def with_telegram(config: Path, url: str, tmp_path: Path) -> None:
    cfg: dict[str, Any] = yaml.safe_load(config.read_text())
    cfg["notify"] = {"telegram": {"bot_token": TOKEN, "chat_id": CHAT, "base_url": url, "poll_timeout_s": 1}}
    config.write_text(yaml.safe_dump(cfg))
    alice = tmp_path / "users" / "alice.yaml"
    user = yaml.safe_load(alice.read_text())
    user["notify"] = {"webhook_url": url + "/hook/alice"}
    alice.write_text(yaml.safe_dump(user))


async def test_the_daemon_answers_telegram_and_sends_a_users_events_to_their_own_webhook(
        sim: Simulator, tmp_path: Path) -> None:
    slow = {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}
    config = write_config(tmp_path, sim, {"alice": slow, "bob": slow})
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with serve_bot_api() as api:
        with_telegram(config, api.url, tmp_path)
        async with daemon(config, log) as proc:
            await wait_for(lambda: db_cycles(db, "bob"), 30, "bob trading")
            api.push("/pause alice")
            api.push("/pause bob")
            api.push("/status", chat=777)  # not allowed

            def replies() -> list[str]:
                return [r for r in api.replies() if not r.startswith("otobot [")]
            await wait_for(lambda: len(replies()) >= 2, 30, "both replies")
            assert replies()[0].startswith("alice paused (operator)")
            assert replies()[1].startswith("bob paused (operator)")
            # bob has no notify section: his pause reaches the global chat; alice's only her own webhook.
            await wait_for(lambda: any(r.startswith("otobot [bob] paused:") for r in api.replies()), 30, "bob's")
            # The daily summary (due at once with the default hour 0) goes the same way: see test_daily_summary.py.
            await wait_for(lambda: any(h["kind"] == "paused" for h in api.hooks.get("alice", [])), 30,
                           "alice's webhook")
            assert [(h["kind"], h["user"]) for h in api.hooks["alice"] if h["kind"] != "daily_summary"] == [
                ("paused", "alice")]
            assert not any(r.startswith("otobot [alice]") for r in api.replies())
            assert api.replies("777") == []
            store = await Store.open(db)
            try:
                assert await store.pause_reason("alice") == await store.pause_reason("bob") == "operator"
            finally:
                await store.close()
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
    text = log.read_text()
    assert "ignored /status from chat 777" in text
    assert TOKEN not in text
