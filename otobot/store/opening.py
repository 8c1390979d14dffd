"""Open the database for a one-shot command: never create it by accident, never hang on a damaged file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from otobot.config.settings import GlobalConfig, load_global
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseUnreadable, unreadable


async def open_existing(path: Path) -> Store:
    """The store at `path`, which must exist. A command run as root must not create the daemon's database (it
    would belong to root), and a file that is not SQLite is refused here: Store.open would raise with aiosqlite's
    worker thread still running, which keeps the process from ever exiting."""
    probe(path)
    return await Store.open(path)


async def open_for_reading(config_path: Path) -> tuple[GlobalConfig, Store]:
    """The settings and the existing database of a read-only command (history, audit): a ConfigError or a
    DatabaseUnreadable, each one paragraph naming the file and the fix, when either cannot be had."""
    settings = load_global(config_path)
    return settings, await open_existing(settings.database)


async def open_or_empty(path: Path) -> Store:
    """The store at `path` if it exists, else an empty in-memory one (a fresh install: nothing recorded yet)."""
    return await Store.open(path) if probe(path, missing_ok=True) else await Store.open(":memory:")


def probe(path: Path, *, missing_ok: bool = False) -> bool:
    """Read the schema with the standard library, read-only: True if SQLite can, False if the file is missing
    and `missing_ok`; else DatabaseUnreadable naming the file and what to do."""
    if not path.exists():
        if missing_ok:
            return False
        raise DatabaseUnreadable(f"{path}: no database yet; it is created by `otobot run` or `otobot creds import`")
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise unreadable(path, exc) from None
    return True
