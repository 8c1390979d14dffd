"""Telegram and webhook notifications through one queue and one worker: a failure to notify never touches trading."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from loguru import logger

KINDS = ("paused", "auth_expired", "risk_challenge", "target_reached", "daily_summary", "resumed")


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str
    user: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    async def send(self, event: Notification) -> None: ...


class TelegramNotifier:
    def __init__(self, session: aiohttp.ClientSession, bot_token: str, chat_id: str, *,
                 base_url: str = "https://api.telegram.org") -> None:
        self.session, self.chat_id = session, chat_id
        self.url = f"{base_url.rstrip('/')}/bot{bot_token}/sendMessage"

    async def send(self, event: Notification) -> None:
        async with self.session.post(self.url, json={"chat_id": self.chat_id, "text": f"otobot: {event.text}"}) as r:
            r.raise_for_status()


class WebhookNotifier:
    def __init__(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
        self.session, self.url, self.headers = session, url, headers

    async def send(self, event: Notification) -> None:
        body = {"kind": event.kind, "user": event.user, "text": event.text, "data": event.data}
        async with self.session.post(self.url, json=body, headers=self.headers) as r:
            r.raise_for_status()


class NotifyHub:
    """`notify()` never blocks and never raises; one worker sends, retrying a little, dropping oldest when full."""

    def __init__(self, notifiers: list[Notifier], *, maxsize: int = 1000, timeout_s: float = 10.0,
                 retries: int = 2) -> None:
        self.notifiers = notifiers
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize)
        self.timeout_s, self.retries = timeout_s, retries
        self._worker: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0

    def notify(self, event: Notification) -> None:
        if not self.notifiers:
            return
        if self.queue.full():
            dropped = self.queue.get_nowait()
            logger.warning("Notification queue full; dropped the oldest ({})", dropped.kind)
        self.queue.put_nowait(event)

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self, drain_s: float = 2.0) -> None:
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self.queue.join()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                for n in self.notifiers:
                    await self._deliver(n, event)
            finally:
                self.queue.task_done()

    async def _deliver(self, n: Notifier, event: Notification) -> None:
        for attempt in range(self.retries + 1):
            try:
                async with asyncio.timeout(self.timeout_s):
                    await n.send(event)
                self.sent += 1
                return
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt == self.retries:
                    self.failed += 1
                    logger.warning("Could not send a {} notification via {} ({})", event.kind, type(n).__name__, exc)
                    return
                await asyncio.sleep(0.5 * 2**attempt)
