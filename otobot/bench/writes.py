"""`otobot bench --writes-floor`: record the run's write transactions, then time SQLite alone replaying them."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from otobot.store.schema import migrate
from otobot.store.wal import CHECKPOINT_EVERY, writer_connection

Statement = tuple[str, Any]
# Enough for a 20 s run at 1,000 users' pace, and a bound on what the recording holds (~40 statements each).
MAX_TRANSACTIONS = 50_000


class Recorder:
    """Stands in for the writer's connection while the bench measures: every statement of every transaction is
    recorded (SQL and parameters, as the store sent them) and then run on the real connection. A transaction is
    what lies between two BEGINs; past MAX_TRANSACTIONS, or once `stop()` is called, it only passes them on."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.transactions: list[list[Statement]] = []
        self._current: list[Statement] | None = None
        self._on = True
        self.truncated = False  # a transaction came past MAX_TRANSACTIONS: the recording misses the rest

    def stop(self) -> None:
        self._on = False
        self._current = None

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if self._on:
            if sql.startswith("BEGIN"):
                self._current = [] if len(self.transactions) < MAX_TRANSACTIONS else None
                if self._current is not None:
                    self.transactions.append(self._current)
                else:
                    self.truncated = True
            if self._current is not None:
                self._current.append((sql, params))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:  # in_transaction, executemany (not used by the writes), …
        return getattr(self.conn, name)


def replay(transactions: list[list[Statement]], path: Path, timed: range) -> float:
    """Seconds of this thread's CPU that SQLite takes to run the transactions numbered `timed` into a new store file
    at `path`, with the daemon's writer settings and no Python between statements but the loop that issues them.
    Every transaction before them runs too, untimed, so the rows and ids are the ones the statements expect. A
    statement that failed in the run fails here too and is passed over, as the run's savepoint passed over it.
    Checkpoints run as the daemon runs them (every CHECKPOINT_EVERY commits) and are not counted: the daemon's run
    off the loop, outside the time the bench gives the writes."""
    c = writer_connection(path)
    try:
        c.execute("PRAGMA journal_mode=WAL")
        migrate(c)
        spent = 0.0
        for i, tx in enumerate(transactions):
            started = time.thread_time()
            for sql, params in tx:
                try:
                    c.execute(sql, params)
                except sqlite3.Error:
                    pass  # its ROLLBACK TO follows in the recording
            if i in timed:
                spent += time.thread_time() - started
            if (i + 1) % CHECKPOINT_EVERY == 0:
                c.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return spent
    finally:
        c.close()
