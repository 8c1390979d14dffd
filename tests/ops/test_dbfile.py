"""The database lock and the database-unreadable message, in-process (the two-daemon case is in tests/e2e)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from otobot.dbfile import DatabaseLocked, DatabaseUnreadable, DbLock, lock_path
from otobot.schema import MIGRATIONS
from otobot.store import Store


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
