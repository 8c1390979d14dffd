"""The one writer's connection, and the WAL checkpoints that run beside it on aiosqlite's thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
from loguru import logger

from otobot.store.groupcommit import GroupCommit

CHECKPOINT_EVERY = 200  # commits between two checkpoints: about 1,500 WAL pages at ~7 pages a commit
# ~16 MB of WAL: past this a checkpoint holds the writer so it completes and the WAL restarts. Measured with a
# COMMIT every ~1.4 ms: the WAL file stays under ~26 MB (87 MB and growing without), holds of 1-13 ms every ~600.
WAL_HOLD_FRAMES = 4_096
# Runs a function on aiosqlite's thread (Store._call).
Call = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]


WAL_SWITCH_S = 5.0  # as long as the busy timeout: how long openers of a new file may contend for its WAL switch


async def switch_to_wal(db: aiosqlite.Connection) -> None:
    """`PRAGMA journal_mode=WAL` on an aiosqlite connection. Several openers of a new file (the daemon and a CLI
    command) contend for the exclusive lock the switch takes, and SQLite answers "database is locked" at once
    there, without its busy handler (seen about once in 20 runs of 8 openers on a loaded machine): so the switch
    is tried again, backing off, for as long as the busy timeout would have waited."""
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + WAL_SWITCH_S, 0.005
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


def writer_connection(path: Path) -> sqlite3.Connection:
    """The one write connection, owned by the event loop's thread (see groupcommit.GroupCommit)."""
    c = sqlite3.connect(str(path), isolation_level=None)
    c.row_factory = sqlite3.Row
    c.execute("PRAGMA busy_timeout=5000")  # only a CLI command's short write can hold the lock
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA foreign_keys=ON")
    c.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints fsync: they run on aiosqlite's thread instead
    return c


class Checkpoints:
    """Every CHECKPOINT_EVERY commits, copy the WAL into the file on aiosqlite's thread: its fsyncs never block
    the loop. One at a time; `frames` is the WAL's length the last one saw (observability and tests)."""

    def __init__(self, call: Call, group: GroupCommit) -> None:
        self._call = call
        self._group = group
        self._task: asyncio.Task[None] | None = None
        self.frames = 0

    def on_commits(self, commits: int) -> None:
        if commits % CHECKPOINT_EVERY or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def drain(self) -> None:
        """Until the checkpoint under way (if any) has finished."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def run(self) -> None:
        """A passive checkpoint never waits for the writer, but while commits keep coming it never finishes either,
        so the WAL cannot start over and grows (measured: 87 MB in 20 s of commits every 1 ms). Past
        WAL_HOLD_FRAMES the writer is held (its writes queue; the loop runs on) for one more passive checkpoint,
        which then copies what the earlier ones left and completes; the next COMMIT starts the WAL from the top."""
        try:
            frames = await self.passive()
            if frames > WAL_HOLD_FRAMES:
                async with self._group.held():
                    frames = await self.passive()
        except sqlite3.Error as exc:
            logger.warning("SQLite checkpoint failed ({}); the WAL grows until the next one succeeds", exc)
            return
        self.frames = frames

    async def passive(self) -> int:
        """One PASSIVE checkpoint; the WAL's length in frames."""
        row = await self._call(lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        return int(row[1]) if row is not None else 0
