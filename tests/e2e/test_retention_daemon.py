"""`otobot run` prunes old detail rows when it starts: a real subprocess on a real SQLite file."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from pathlib import Path

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day
from tests.helpers import wait_for, write_config
from tests.unit.test_retention import DAY_MS, cycle

REPO = Path(__file__).resolve().parents[2]


def cycle_ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT id FROM cycles ORDER BY id")]


async def test_the_daemon_prunes_rows_older_than_retention_days_at_start(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"enabled": False}})
    config.write_text(config.read_text() + "retention_days: 30\n")
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    now_ms = int(time.time() * 1000)
    old_ms, old_day = now_ms - 40 * DAY_MS, utc_day(now_ms - 40 * DAY_MS)
    store = await Store.open(db)
    try:
        await cycle(store, old_ms)
        kept = await cycle(store, now_ms - 20 * DAY_MS, n=1)
        old_volume = await store.day_volume("alice", old_day)
    finally:
        await store.close()

    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", "run", "-c", str(config),
                                                    cwd=REPO, stdout=out, stderr=out)
    try:
        await wait_for(lambda: "Retention: pruned 1 cycles, 2 orders, 2 fills" in log.read_text(), 30,
                       "the start-up retention pass")
        assert cycle_ids(db) == [kept]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert "older than 30 days" in log.read_text()
    store = await Store.open(db)
    try:
        assert old_volume.cycles == 1
        assert await store.day_volume("alice", old_day) == old_volume  # daily totals are kept forever
    finally:
        await store.close()
