"""Disk retention: once at start and then daily, prune detail rows older than `retention_days` in small batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from loguru import logger

from otobot.store.db import Store
from otobot.store.pruning import Pruned

DAY_MS = 86_400_000
# A batch is one short write transaction: 20 cycles carry 100 order and fill rows, plus up to 100 audit rows.
# Measured on a 1.5 GB file (python -m otobot.bench.db): ~7 ms a batch, p99 63 ms, where 50 + 250 gave a p99 of
# 132 ms for 20 % more rows a second; the bots' own transactions run between two batches.
BATCH_CYCLES = 20
BATCH_AUDIT = 100


def cutoff_ms(now_ms: int, days: int) -> int:
    """Rows older than this instant go; `days` whole days back from now."""
    return now_ms - days * DAY_MS


async def prune(store: Store, cutoff: int, *, cycles: int = BATCH_CYCLES, audit: int = BATCH_AUDIT,
                pause_s: float = 0.0) -> Pruned:
    """Delete, batch by batch, every prunable row older than `cutoff`; returns the totals."""
    total = Pruned()
    while True:
        done = await store.prune_batch(cutoff, cycles, audit)
        total += done
        if done.cycles < cycles and done.audit < audit:
            return total
        await asyncio.sleep(pause_s)  # yield: the daemon's other work runs between two batches


class Retention:
    """The daemon's daily pruning task; `retention_days` 0 keeps everything and the task returns at once."""

    def __init__(self, store: Store, days: int, *, every_s: float = 86_400.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store = store
        self.days = days
        self.every_s = every_s
        self.clock = clock
        self.sleep = sleep

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[asyncio.Task[None]]:
        """The task for the daemon's lifetime: started on entry, cancelled and awaited on exit."""
        task = asyncio.create_task(self.run(), name="retention")
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        if self.days <= 0:
            logger.info("Retention off (retention_days: 0): orders, fills and audit rows are kept forever")
            return
        while True:
            await self.run_once()
            await self.sleep(self.every_s)

    async def run_once(self) -> Pruned | None:
        """One pass; a database error is logged and the next day's pass tries again (trading goes on)."""
        now_ms = int(self.clock() * 1000)
        started = time.monotonic()
        try:
            done = await prune(self.store, cutoff_ms(now_ms, self.days))
        except Exception as exc:  # sqlite3.Error, or the store closing under us at shutdown
            logger.warning("Retention pass failed ({}); the next one runs in {:.0f} h", exc, self.every_s / 3600)
            return None
        returned = await self.give_back()
        log = logger.info if done.cycles or done.audit or returned else logger.debug
        log("Retention: pruned {} cycles, {} orders, {} fills, {} audit rows older than {} days, {} free pages given "
            "back to the disk, in {:.1f} s", done.cycles, done.orders, done.fills, done.audit, self.days, returned,
            time.monotonic() - started)
        return done

    async def give_back(self) -> int:
        """The file's free pages returned to the disk, a short write at a time (pruning frees pages; without
        this the file would keep its peak size forever)."""
        total = 0
        try:
            while (returned := await self.store.reclaim_step()) > 0:
                total += returned
                await asyncio.sleep(0)  # the bots' writes run between two steps
        except Exception as exc:  # as a failed pass: the next day's tries again
            logger.warning("Retention could not give free pages back to the disk ({})", exc)
        return total
