"""The database lock and the database-unreadable message, in-process (the two-daemon case is in tests/e2e)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from otobot.store import wal as walcheckpoint
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseLocked, DatabaseUnreadable, DbLock, lock_path
from otobot.store.schema import MIGRATIONS
from otobot.store.wal import switch_to_wal


def test_a_second_lock_on_the_same_database_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    first = DbLock.acquire(db)
    try:
        assert lock_path(db).read_text() == f"{os.getpid()}\n"
        # flock belongs to the open file: a second open of the same file conflicts even in this process.
        with pytest.raises(DatabaseLocked) as caught:
            DbLock.acquire(db)
        assert str(caught.value) == (f"another otobot (pid {os.getpid()}) holds {db}; "
                                     "stop it first (systemctl stop otobot)")
    finally:
        first.release()
    again = DbLock.acquire(db)  # released: the file stays, the lock does not
    again.release()
    assert lock_path(db).exists()


def test_a_lock_in_a_folder_that_cannot_be_created_says_so(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    with pytest.raises(DatabaseUnreadable, match=r"cannot create the lock file .*otobot\.db\.lock: .*; check that"):
        DbLock.acquire(tmp_path / "file" / "otobot.db")


async def test_store_open_on_a_file_that_is_not_sqlite_closes_and_says_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "otobot.db"
    db.write_bytes(b"\x00garbage" * 1000)

    with pytest.raises(DatabaseUnreadable, match="file is not a database; the file is damaged"):
        await Store.open(db)


async def test_stores_opening_a_new_database_at_once_all_migrate_it(tmp_path: Path) -> None:
    """The daemon creates the schema while a CLI command (or a test) opens the same new file (a race: this
    failed about one run in three before each migration step re-read the version under the write lock)."""
    db = tmp_path / "otobot.db"
    stores = await asyncio.gather(*(Store.open(db) for _ in range(8)))
    try:
        assert {await s.schema_version() for s in stores} == {len(MIGRATIONS)}
    finally:
        for s in stores:
            await s.close()


async def _held_open(path: Path) -> tuple[sqlite3.Connection, aiosqlite.Connection]:
    """Another opener in the middle of creating the file (an exclusive lock), and ours failing fast on it."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    db = await aiosqlite.connect(str(path))
    await db.execute("PRAGMA busy_timeout=0")
    return holder, db


async def test_the_wal_switch_is_tried_again_while_another_opener_holds_the_new_file(tmp_path: Path) -> None:
    holder, db = await _held_open(tmp_path / "new.db")
    failed: list[str] = []
    real = db.execute

    async def execute(sql: str, *args: Any) -> Any:
        try:
            return await real(sql, *args)
        except sqlite3.OperationalError as exc:
            failed.append(str(exc))
            holder.execute("COMMIT")  # the other opener is done with it
            raise

    db.execute = execute  # type: ignore[method-assign]
    try:
        await switch_to_wal(db)
        row = await (await real("PRAGMA journal_mode")).fetchone()
        assert failed == ["database is locked"] and row is not None and row[0] == "wal"
    finally:
        await db.close()
        holder.close()


async def test_the_wal_switch_gives_up_with_the_lock_error_when_the_file_stays_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walcheckpoint, "WAL_SWITCH_S", 0.05)
    holder, db = await _held_open(tmp_path / "new.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await switch_to_wal(db)
    finally:
        await db.close()
        holder.close()
