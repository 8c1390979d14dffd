"""Group commit: the write transactions that arrive while one is in flight share the next SQLite transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Body = Callable[[sqlite3.Connection], Any]
# Runs a function on the connection's own thread (Store._call): the committer never touches SQLite itself.
Runner = Callable[[Callable[[sqlite3.Connection], list[Any]]], Awaitable[list[Any]]]


class _Failed:
    """One body's own error: its savepoint was rolled back, the others in the group still commit."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def run_group(c: sqlite3.Connection, bodies: list[Body]) -> list[Any]:
    """Every body in one transaction, each in its own savepoint; a failed COMMIT raises (every waiter fails)."""
    c.execute("BEGIN IMMEDIATE")
    out: list[Any] = []
    try:
        for body in bodies:
            c.execute("SAVEPOINT w")
            try:
                out.append(body(c))
            except Exception as exc:  # handed to that body's waiter, not swallowed
                c.execute("ROLLBACK TO w")
                out.append(_Failed(exc))
            c.execute("RELEASE w")
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return out


class GroupCommit:
    """One writer: waiters resume only after the COMMIT that holds their writes (write-before-send holds).

    Writes arriving while a transaction is on the SQLite thread wait for it, then go together in the next one, so
    N bots whose fills land in the same burst cost one COMMIT, not N."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._pending: list[tuple[Body, asyncio.Future[Any]]] = []
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # COMMITs attempted (observability and tests)
        self.writes = 0

    async def write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((body, fut))
        self._idle.clear()
        if not self._busy:
            self._busy = True
            # call_soon: the rest of this loop turn's writers join the same transaction.
            asyncio.get_running_loop().call_soon(self._start)
        return await fut

    async def drain(self) -> None:
        """Until nothing is pending or in flight (before the connection closes)."""
        await self._idle.wait()

    def _start(self) -> None:
        batch, self._pending = self._pending, []
        self._task = asyncio.get_running_loop().create_task(self._commit(batch))

    async def _commit(self, batch: list[tuple[Body, asyncio.Future[Any]]]) -> None:
        bodies = [b for b, _ in batch]
        self.transactions += 1
        self.writes += len(bodies)
        try:
            results = await self._run(lambda c: run_group(c, bodies))
        except asyncio.CancelledError:
            for _, f in batch:
                f.cancel()
            raise
        except BaseException as exc:  # a failed COMMIT fails every waiter of the group
            for _, f in batch:
                if not f.done():
                    f.set_exception(exc)
        else:
            for (_, f), r in zip(batch, results, strict=True):
                if f.done():
                    continue
                if isinstance(r, _Failed):
                    f.set_exception(r.exc)
                else:
                    f.set_result(r)
        finally:
            if self._pending:
                self._start()
            else:
                self._busy = False
                self._idle.set()
