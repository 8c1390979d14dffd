"""A bot that has waited longer than notify.long_wait_s (volatility, a stale price) is notified, once per wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

from otobot.views.reports import waiting_text

CHECK_EVERY_S = 10.0


class LongWaits:
    """Reads the bots' live rows (`status`, as `ctl status` returns them); a wait is known by its `since_ms`,
    so one that ends and starts again is a new wait, and a restart of the daemon tells a lasting one again."""

    def __init__(self, status: Callable[[], Awaitable[dict[str, Any]]], notify: Callable[[str, str, str], None],
                 after_s: Callable[[], float], clock: Callable[[], float] = time.time) -> None:
        self.status, self.notify, self.after_s, self.clock = status, notify, after_s, clock
        self.told: dict[str, Any] = {}  # user -> since_ms of the wait already told

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a reminder is never worth stopping the daemon for
                logger.debug("Long-wait check failed: {}", exc)
            await asyncio.sleep(CHECK_EVERY_S)

    async def tick(self) -> list[str]:
        """Notify each wait that just passed the threshold; the users told."""
        after_s = self.after_s()
        now_ms = int(self.clock() * 1000)
        told = []
        for row in (await self.status()).get("users") or []:
            user, waiting = str(row.get("user")), row.get("waiting")
            if not isinstance(waiting, dict) or not waiting.get("reason"):
                self.told.pop(user, None)
                continue
            since = waiting.get("since_ms")
            if after_s <= 0 or not isinstance(since, int) or self.told.get(user) == since:
                continue
            if now_ms - since >= after_s * 1000:
                self.told[user] = since
                minutes = (now_ms - since) / 60_000
                self.notify("waiting", user, f"{user} has traded nothing for {minutes:.0f} min, waiting: "
                                             f"{waiting_text(waiting)}")
                told.append(user)
        return told
