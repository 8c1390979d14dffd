"""Group commit: the one writer; the writes that arrive in one event-loop turn share one SQLite transaction."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
# Under load, a write that is not an intent waits for the group until this long after the previous COMMIT, so
# more writes share one (a COMMIT costs ~0.1-0.2 ms however few it holds; at 100 users the writes of a cycle took
# ~3.5 of them). A lone write commits at the end of its turn, as before; an intent never waits: it commits at once,
# on its own.
COMMIT_GAP_S = 0.005
Body = Callable[[sqlite3.Connection], Any]
# Runs a function on aiosqlite's own thread (Store._call): the fallback writer of an in-memory database.
Runner = Callable[[Callable[[sqlite3.Connection], list[Any]]], Awaitable[list[Any]]]

FLUSHES_KEPT = 4_096  # bound: commit durations kept for the bench (~130 KB)


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
        if len(bodies) == 1:  # the common case at few users: no savepoint needed, the transaction is the body's
            try:
                out.append(bodies[0](c))
            except Exception as exc:
                c.execute("ROLLBACK")
                return [_Failed(exc)]
        else:
            for body in bodies:
                c.execute("SAVEPOINT w")
                try:
                    out.append(body(c))
                except Exception as exc:  # handed to that body's waiter, not swallowed
                    if not c.in_transaction:
                        # SQLite rolled the whole transaction back itself (SQLITE_FULL, an I/O error): the
                        # group's other writes are gone too, so every waiter gets this cause, not the
                        # "no such savepoint" that a ROLLBACK TO would raise now.
                        raise
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

    With a connection (the daemon's file database) the group runs on the event loop's own thread, in a callback at
    the end of the loop turn in which its first write arrived: every bot that wrote in that turn shares the COMMIT,
    and nobody waits for a thread hand-off. In WAL mode with synchronous=NORMAL a COMMIT appends to the WAL in the
    page cache and never fsyncs (about 0.1 ms); the fsyncs happen in checkpoints, which `on_commits` runs on
    aiosqlite's thread, never here. Measured at 100 users: the hand-off to aiosqlite's thread and back cost a bot
    2.4 ms (p50) and 11 ms (p90) per write while the transaction itself took 0.17 ms (p50) on that thread.

    Without a connection (an in-memory database, which only one connection can see) each group runs on
    aiosqlite's thread through `run`, and writes arriving meanwhile wait for the next group."""

    def __init__(self, run: Runner, conn: sqlite3.Connection | None = None,
                 on_commits: Callable[[int], None] | None = None, gap_s: float = COMMIT_GAP_S) -> None:
        self._run = run
        self._conn = conn
        self.gap_s = gap_s
        self._last_commit = -gap_s  # loop time of the last COMMIT on this thread
        self.on_commits = on_commits  # the writer's owner sets it: checkpoints follow the commits
        self._pending: list[tuple[Body, asyncio.Future[Any]]] = []
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # COMMITs attempted (observability and tests)
        self.writes = 0
        # How long each group held the loop, the last FLUSHES_KEPT of them (the bench's percentiles), and their
        # running total (its time per cycle): a deque of 100,000 was 3 MB the daemon carried for the bench alone.
        self.flush_s: deque[float] = deque(maxlen=FLUSHES_KEPT)
        self.flush_total_s = 0.0
        self._held = False  # a checkpoint must finish: writes queue meanwhile (see Store._run_checkpoint)

    def wrap_connection(self, wrap: Callable[[sqlite3.Connection], sqlite3.Connection]) -> bool:
        """bench --writes-floor: the writer's connection wrapped (to record every transaction); False without one.
        The daemon never swaps its connection."""
        if self._conn is None:
            return False
        self._conn = wrap(self._conn)
        return True

    async def write(self, body: Callable[[sqlite3.Connection], T], *, now: bool = False) -> T:
        """`body` committed (with the other writes of this loop turn, or of the gap); `now`: an order's intent, the
        bot sends its request next, so it is committed at once, on its own, without waiting for the turn to end."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if now and self._conn is not None and not self._held:
            # Alone: the writes waiting for their group are other bots' (a bot awaits each of its writes before
            # the next, so none of its own is waiting), and taking them along put up to a gap's worth of them
            # between this bot's fill and its order (measured: reaction p50 1.3 → 2.1 ms at 100 users).
            self._flush([(body, fut)])
            return fut.result()  # done (or failed) by the commit: no loop turn between intent and request
        self._pending.append((body, fut))
        self._idle.clear()
        if not self._busy:
            self._busy = True
            # The rest of this loop turn's writers join the same transaction; under load (a COMMIT less than
            # gap_s ago) so do the writes of the turns until then.
            wait = self._last_commit + self.gap_s - loop.time() if self._conn is not None else 0.0
            if wait > 0:
                loop.call_later(wait, self._start)
            else:
                loop.call_soon(self._start)
        return await fut

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """No COMMIT while inside: writes (intents too) wait, and go in one group when it ends."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            if self._pending and not self._busy:
                self._busy = True
                asyncio.get_running_loop().call_soon(self._start)

    async def drain(self) -> None:
        """Until nothing is pending or in flight (before the connection closes)."""
        await self._idle.wait()

    def _start(self) -> None:
        """The end of a loop turn in which writes arrived (or of the gap after the last COMMIT): one group."""
        if self._held:
            self._busy = False  # held(): its end schedules the flush of what waits
            return
        batch, self._pending = self._pending, []
        if self._conn is None:
            if batch:
                self._task = asyncio.get_running_loop().create_task(self._commit(batch))
            else:  # nothing came after all: not busy, so the next write schedules a group again
                self._busy = False
                self._idle.set()
            return
        self._busy = False
        if batch:
            self._flush(batch)
        if not self._pending:
            self._idle.set()

    def _flush(self, batch: list[tuple[Body, asyncio.Future[Any]]]) -> None:
        """One group, committed here on the loop's thread; each waiter gets its own result or error."""
        assert self._conn is not None
        self.transactions += 1
        self.writes += len(batch)
        started = time.perf_counter()
        try:
            results = run_group(self._conn, [b for b, _ in batch])
        except Exception as exc:  # a failed COMMIT fails every waiter of the group
            self._fail(batch, exc)
        else:
            self._deliver(batch, results)
        finally:
            spent = time.perf_counter() - started
            self.flush_s.append(spent)
            self.flush_total_s += spent
            self._last_commit = asyncio.get_running_loop().time()
        if self.on_commits is not None:
            self.on_commits(self.transactions)

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
            self._fail(batch, exc)
        else:
            self._deliver(batch, results)
        finally:
            if self._pending:
                self._start()
            else:
                self._busy = False
                self._idle.set()

    @staticmethod
    def _fail(batch: list[tuple[Body, asyncio.Future[Any]]], exc: BaseException) -> None:
        for _, f in batch:
            if not f.done():
                f.set_exception(exc)

    @staticmethod
    def _deliver(batch: list[tuple[Body, asyncio.Future[Any]]], results: list[Any]) -> None:
        for (_, f), r in zip(batch, results, strict=True):
            if f.done():
                continue
            if isinstance(r, _Failed):
                f.set_exception(r.exc)
            else:
                f.set_result(r)
