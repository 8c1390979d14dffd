"""Telegram and webhook notifications through one queue and one worker: a failure to notify never touches trading."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import aiohttp
from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from otobot.config.settings import NotifyConfig
from otobot.ops.telegram import BotApi
from otobot.ops.tgoutbox import TelegramChats, bot_key
from otobot.ops.tgtext import TELEGRAM_MAX_CHARS

KINDS = ("paused", "auth_expired", "risk_challenge", "target_reached", "daily_summary", "resumed")
__all__ = ["KINDS", "TELEGRAM_MAX_CHARS", "Notification", "NotifyHub", "TelegramNotifier", "WebhookNotifier"]


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str  # one of KINDS; an unknown kind is still delivered (notifying must never raise into a bot)
    user: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class Notifier(Protocol):
    async def send(self, event: Notification) -> None: ...


class DeliveryError(Exception):
    """A notification was not accepted; `retryable` for 5xx, 429 and network trouble, not for other 4xx."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _check(status: int, where: str) -> None:
    if status >= 400:
        raise DeliveryError(f"{where} answered HTTP {status}", retryable=status >= 500 or status == 429)


class TelegramNotifier:
    """A chat's notifications, handed to its outbox (ops/tgoutbox.py): `send` returns at once; the outbox paces
    them within Telegram's limits, urgent first, coalesced in a burst, and logs an ERROR for any it gives up."""

    def __init__(self, session: aiohttp.ClientSession, bot_token: str, chat_id: str, *,
                 base_url: str = "https://api.telegram.org", chats: TelegramChats | None = None,
                 config_key: str = "notify.telegram.chat_id in otobot.yaml") -> None:
        self.session, self.chat_id = session, chat_id
        self._own_chats = chats is None
        self.chats = chats or TelegramChats()
        self.outbox = self.chats.outbox(BotApi(session, bot_token, base_url), chat_id, config_key,
                                        bot_key(base_url, bot_token))

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat_id={self.chat_id!r})"

    async def send(self, event: Notification) -> None:
        self.outbox.put(event.kind, event.user, event.text)

    async def close(self, drain_s: float = 2.0) -> None:
        """Drains and stops the outbox this notifier made for itself; a shared one is closed by its owner."""
        if self._own_chats:
            await self.chats.close(drain_s)


class WebhookNotifier:
    """JSON POST of the notification: {kind, user, text, data, time_ms}."""

    def __init__(self, session: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.session, self.url, self.headers = session, url, dict(headers or {})

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url.split('?')[0]!r})"

    async def send(self, event: Notification) -> None:
        body = {"kind": event.kind, "user": event.user, "text": event.text, "data": event.data,
                "time_ms": event.time_ms}
        headers = {"content-type": "application/json", **self.headers}
        try:
            async with self.session.post(self.url, data=json.dumps(body, default=str), headers=headers) as r:
                _check(r.status, "the webhook")
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"the webhook is unreachable ({type(exc).__name__})", retryable=True) from None


class NotifyHub:
    """`notify()` never blocks and never raises. One worker task sends each event to every notifier
    (concurrently, a timeout each, a couple of retries with backoff for 5xx/network); when the queue is
    full the oldest event is dropped with a warning. Use `async with hub:` or `start()`/`stop()`."""

    def __init__(self, notifiers: Sequence[Notifier], *, maxsize: int = 1000, timeout_s: float = 10.0,
                 retries: int = 2, backoff_s: float = 1.0,
                 route: Callable[[Notification], Sequence[Notifier]] | None = None) -> None:
        self.notifiers = list(notifiers)
        self.route = route or (lambda event: self.notifiers)  # who gets an event (see UserRoutes)
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize)
        self._worker: asyncio.Task[None] | None = None
        self.sent = self.failed = self.dropped = 0

    def notify(self, event: Notification) -> None:
        try:
            if not self.route(event):
                return
            if self._queue.full():
                oldest = self._queue.get_nowait()
                self._queue.task_done()
                self.dropped += 1
                logger.error("Notification queue full ({} waiting); dropped the oldest ({} for {})",
                               self._queue.maxsize, oldest.kind, oldest.user or "all")
            self._queue.put_nowait(event)
        except Exception as exc:  # a notification is never worth an exception in a trading bot
            logger.warning("Could not queue a {} notification ({})", event.kind, exc)

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="notify-hub")

    async def stop(self, drain_s: float = 2.0) -> None:
        """Give queued events `drain_s` to go out, then stop the worker."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self._queue.join()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        for notifier in (*self.notifiers, self.route):  # a route that built notifiers closes them
            close = getattr(notifier, "close", None)
            if close is not None:
                await close(drain_s)

    async def __aenter__(self) -> NotifyHub:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await asyncio.gather(*(self._deliver(n, event) for n in self.route(event)))
            finally:
                self._queue.task_done()

    async def _deliver(self, notifier: Notifier, event: Notification) -> None:
        # tenacity here, where a failure is rare and costs nothing to keep: the REST reads retry in a plain loop
        # instead, because its retry state and the exception's traceback hold each other (exchange/rest.py).
        retrying = AsyncRetrying(stop=stop_after_attempt(self.retries + 1),
                                 wait=wait_exponential(multiplier=self.backoff_s, min=0),
                                 retry=retry_if_exception(_retryable), reraise=True)
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with asyncio.timeout(self.timeout_s):
                        await notifier.send(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # logged and swallowed: never propagates toward trading
            self.failed += 1
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            logger.warning("Could not send the {} notification for {} via {} after {} attempt(s): {}",
                           event.kind, event.user or "all", notifier, attempts, reason)
            return
        self.sent += 1


def _retryable(exc: BaseException) -> bool:
    """A timeout, a network error, or what the notifier marks retryable (a 5xx, a 429): worth another attempt."""
    return isinstance(exc, TimeoutError | OSError) or bool(getattr(exc, "retryable", False))


def build_notifiers(session: aiohttp.ClientSession, cfg: NotifyConfig, chats: TelegramChats | None = None,
                    where: str = "otobot.yaml") -> list[Notifier]:
    """The notifiers one `notify` section asks for (the global one, or a user's override); `chats` shares one
    outbox per chat between them, `where` names the file whose notify.telegram.chat_id a migration changes."""
    out: list[Notifier] = []
    if cfg.telegram is not None:
        out.append(TelegramNotifier(session, cfg.telegram.bot_token, cfg.telegram.chat_id,
                                    base_url=cfg.telegram.base_url, chats=chats,
                                    config_key=f"notify.telegram.chat_id in {where}"))
    if cfg.webhook_url:
        out.append(WebhookNotifier(session, cfg.webhook_url, {}))
    return out


class UserRoutes:
    """A user with a `notify` section in their file gets their own events there and only there; every other
    event (other users', daemon-wide ones) goes to the global notifiers. `user_notify` is read per event, so
    a reloaded user file takes effect at once."""

    def __init__(self, session: aiohttp.ClientSession, global_notifiers: Sequence[Notifier],
                 user_notify: Callable[[str], NotifyConfig | None], chats: TelegramChats | None = None) -> None:
        self.session, self.global_notifiers, self.user_notify = session, list(global_notifiers), user_notify
        self._own_chats = chats is None
        self.chats = chats or TelegramChats()
        self._built: dict[NotifyConfig, list[Notifier]] = {}

    async def close(self, drain_s: float = 2.0) -> None:
        if self._own_chats:
            await self.chats.close(drain_s)

    def __call__(self, event: Notification) -> Sequence[Notifier]:
        cfg = self.user_notify(event.user) if event.user else None
        if cfg is None or (cfg.telegram is None and not cfg.webhook_url):
            return self.global_notifiers
        if cfg not in self._built:
            self._built[cfg] = build_notifiers(self.session, cfg, self.chats, f"the user file of {event.user}")
        return self._built[cfg]
