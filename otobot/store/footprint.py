"""What the database file holds: its size, its free pages, each table's bytes (indexes counted with their table)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

VACUUM_MODES = {0: "none", 1: "full", 2: "incremental"}


def file_bytes(db: Path) -> tuple[int, int]:
    """The file's and its WAL's sizes (the WAL is 0 once the last connection closed and checkpointed it)."""
    wal = db.with_name(db.name + "-wal")
    return (db.stat().st_size if db.exists() else 0), (wal.stat().st_size if wal.exists() else 0)


def measure(db: Path, *, day: str | None = None) -> dict[str, Any]:
    """Read-only; walks every page once (dbstat), a few seconds a GB. `day`: also that UTC day's completed cycles
    (daily_volume) and the day before's, for a rate."""
    size, wal = file_bytes(db)
    with contextlib.closing(sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=5)) as c:
        page = int(c.execute("PRAGMA page_size").fetchone()[0])
        free = int(c.execute("PRAGMA freelist_count").fetchone()[0]) * page
        mode = VACUUM_MODES.get(int(c.execute("PRAGMA auto_vacuum").fetchone()[0]), "?")
        cycles = int(c.execute("SELECT count(*) FROM cycles").fetchone()[0])
        done = int(c.execute("SELECT count(*) FROM cycles WHERE state='done'").fetchone()[0])
        owner = dict(c.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        tables: dict[str, int] = {}
        try:
            for name, used in c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                table = owner.get(name, name)
                tables[table] = tables.get(table, 0) + int(used)
        except sqlite3.OperationalError:  # an SQLite built without the dbstat table: sizes by table are unknown
            pass
        out: dict[str, Any] = {"path": str(db), "bytes": size, "wal_bytes": wal, "free_bytes": free,
                               "auto_vacuum": mode, "cycles": cycles, "cycles_done": done,
                               "tables": dict(sorted(tables.items(), key=lambda kv: -kv[1]))}
        if day is not None:
            out["cycles_by_day"] = {d: int(n or 0) for d, n in c.execute(
                "SELECT day, SUM(cycles) FROM daily_volume WHERE day <= ? GROUP BY day ORDER BY day DESC LIMIT 2",
                (day,))}
    return out
