"""The big-database generator writes what the daemon writes, and retention treats its rows like the daemon's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from otobot.bench.db import generate, template_cycle, write_config
from otobot.config.settings import load_global, scan_users
from otobot.store.db import Store
from otobot.store.retention import DAY_MS, cutoff_ms, prune
from otobot.store.schema import MIGRATIONS

NOW_MS = 1_764_500_000_000


async def test_a_small_generated_database_opens_migrates_and_prunes(tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    write_config(tmp_path, 3)
    made = generate(db, await template_cycle(), users=3, days=4, per_day=5, now_ms=NOW_MS)

    store = await Store.open(db)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        before = {u: await store.user_stats(u) for u in ("user000", "user001", "user002")}
        last = await store.last_cycle("user001")
        assert last is not None and last.state == "done" and last.intent_ms < NOW_MS
        assert len(await store.orders_page("user001", limit=100)) == 2 * 4 * 5

        done = await prune(store, cutoff_ms(NOW_MS, 2))

        assert 0 < done.cycles < made and done.orders == 2 * done.cycles and done.fills == 3 * done.cycles
        assert {u: await store.user_stats(u) for u in before} == before  # daily totals are kept
    finally:
        await store.close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT min(closed_ms) FROM cycles").fetchone()[0] >= NOW_MS - 2 * DAY_MS
        assert c.execute("SELECT count(*) FROM cycles").fetchone()[0] == made - done.cycles
    settings = load_global(tmp_path / "otobot.yaml")
    assert settings.database == db and sorted(scan_users(settings.users_dir).users) == ["user000", "user001",
                                                                                        "user002"]
