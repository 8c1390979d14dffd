"""Giving pruned pages back to the disk: incremental auto_vacuum on new files, a one-time conversion of old ones.

SQLite keeps the pages a DELETE frees in the file's free list and reuses them, but never shrinks the file on its own:
after a burst of trading and its pruning the file stays at its peak. With `auto_vacuum=INCREMENTAL` the retention
pass hands the free pages back (`PRAGMA incremental_vacuum`) in small steps, so a file stops growing once the
retention window is full and shrinks when trading slows down.
"""

from __future__ import annotations

import sqlite3

INCREMENTAL = 2  # PRAGMA auto_vacuum: 0 none, 1 full, 2 incremental
# Pages returned per step: one short write (8 MB at 4 KB pages, a few ms); the bots' own writes run between steps.
STEP_PAGES = 2_000


def is_incremental(c: sqlite3.Connection) -> bool:
    return int(c.execute("PRAGMA auto_vacuum").fetchone()[0]) == INCREMENTAL


def set_on_new_file(c: sqlite3.Connection) -> None:
    """On a file with no table yet (the mode can only be chosen before the first one, or by a VACUUM)."""
    if c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        c.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")


def convert(c: sqlite3.Connection) -> bool:
    """Once, for a file created before: the mode plus a VACUUM that rewrites the file (its free pages go too).
    Needs as much free disk as the file is big, and holds the file alone meanwhile: the daemon runs it at start,
    before any bot. False when the file was already incremental."""
    if is_incremental(c):
        return False
    c.execute(f"PRAGMA auto_vacuum={INCREMENTAL}")
    c.execute("VACUUM")
    return True


def free_pages(c: sqlite3.Connection) -> int:
    return int(c.execute("PRAGMA freelist_count").fetchone()[0])


def step(c: sqlite3.Connection, pages: int = STEP_PAGES) -> int:
    """Return up to `pages` free pages to the disk; how many went (0 on a file that is not incremental)."""
    before = free_pages(c)
    if before == 0 or not is_incremental(c):
        return 0
    c.execute(f"PRAGMA incremental_vacuum({int(pages)})").fetchall()  # it works as its rows are stepped
    return before - free_pages(c)
