"""Telegram commands by long polling getUpdates: allowed chats only, bounded waits, never in trading's way."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from loguru import logger

from otobot.ops.notify import TELEGRAM_MAX_CHARS
from otobot.store.db import Store

OFFSET_KEY = "telegram_update_offset"  # in the store's meta table: a restart never re-runs an old command

IGNORED_CHATS_KEPT = 1_000  # bound: strangers logged once each; past this many they are ignored silently


class BotApiError(Exception):
    """A Bot API call that did not succeed; `retry_after` (seconds) when Telegram asked us to slow down."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Command:
    chat_id: str
    name: str  # without the slash and any @botname: "status"
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    monospace: bool = False  # tables and charts: sent as <pre> so the columns line up


Answer = Callable[[Command], Awaitable[Reply]]


def backoff_s(failures: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """Capped exponential wait after `failures` failures in a row; `jitter` in [0, 1) spreads it over 50-100 %."""
    if failures <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2 ** min(failures - 1, 30)) * (0.5 + jitter / 2))


def parse_update(update: Any) -> tuple[int | None, Command | None]:
    """(update_id, command) of one getUpdates item; None for what it lacks (a malformed item, plain text,
    a message kind otobot does not answer)."""
    if not isinstance(update, dict):
        return None, None
    uid = update.get("update_id")
    uid = uid if isinstance(uid, int) and not isinstance(uid, bool) else None
    message = update.get("message")
    if not isinstance(message, dict):
        return uid, None
    chat = message.get("chat")
    text = message.get("text")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(text, str) or not text.startswith("/") or not isinstance(chat_id, int | str) \
            or isinstance(chat_id, bool):
        return uid, None
    words = text.split()
    name = words[0][1:].split("@", 1)[0].lower()
    return uid, Command(chat_id=str(chat_id), name=name, args=tuple(words[1:]))


class BotApi:
    """POST /bot<token>/<method>. Errors never carry the URL: it holds the bot token."""

    def __init__(self, session: aiohttp.ClientSession, bot_token: str, base_url: str) -> None:
        self.session = session
        self._base = f"{base_url.rstrip('/')}/bot{bot_token}/"

    def __repr__(self) -> str:
        return "BotApi()"

    async def call(self, method: str, body: dict[str, Any], timeout_s: float) -> Any:
        try:
            async with asyncio.timeout(timeout_s):
                async with self.session.post(self._base + method, json=body) as r:
                    status = r.status
                    try:
                        reply = await r.json(content_type=None)
                    except ValueError:
                        reply = None
        except TimeoutError:
            raise BotApiError(f"Telegram {method} got no answer within {timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise BotApiError(f"Telegram unreachable ({type(exc).__name__})") from None
        reply = reply if isinstance(reply, dict) else {}
        if status == 200 and reply.get("ok") is True:
            return reply.get("result")
        params = reply.get("parameters")
        retry = params.get("retry_after") if isinstance(params, dict) else None
        if status == 429 or reply.get("error_code") == 429:
            wait = float(retry) if isinstance(retry, int | float) and not isinstance(retry, bool) else None
            raise BotApiError(f"Telegram {method}: too many requests", retry_after=wait)
        why = {401: "the bot token was refused: check notify.telegram.bot_token",
               404: "the bot token was refused: check notify.telegram.bot_token",
               409: "another client polls this bot (a second otobot with the same bot token?) or a webhook is "
                    "set on it; one bot token per daemon"}.get(status, str(reply.get("description") or "")[:200])
        raise BotApiError(f"Telegram {method} answered HTTP {status}: {why}".rstrip(": "))


@dataclass
class TelegramCommands:
    """Polls for commands and answers them, one at a time, each within `command_timeout_s`. Owned by the
    daemon, which cancels it on shutdown. An outage only delays replies: every failure waits a capped,
    jittered backoff (or Telegram's own `retry_after`) and polls again, forever."""

    api: BotApi
    store: Store
    allowed_chats: frozenset[str]
    answer: Answer
    poll_timeout_s: float = 25.0
    request_margin_s: float = 10.0  # beyond the long poll's own wait: then the request counts as hung
    command_timeout_s: float = 15.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    retry_after_cap_s: float = 3600.0
    rng: Callable[[], float] = random.random
    failures: int = 0
    handled: int = 0
    _ignored_chats: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="telegram-commands")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        offset: int | None = None
        while True:
            try:
                if offset is None:
                    saved = await self.store.meta_value(OFFSET_KEY) or "0"
                    offset = int(saved) if saved.isdigit() else 0
                offset = await self.poll_once(offset)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or a store error must not end the poller
                self.failures += 1
                logger.opt(exception=exc).error("Telegram commands: unexpected error ({}); polling on", exc)
                await asyncio.sleep(self._wait(self.failures, None))

    async def poll_once(self, offset: int) -> int:
        """One getUpdates round and its commands; returns the next offset. Waits out a failure before returning."""
        body: dict[str, Any] = {"timeout": int(self.poll_timeout_s), "allowed_updates": ["message"]}
        if offset:
            body["offset"] = offset
        try:
            result = await self.api.call("getUpdates", body, self.poll_timeout_s + self.request_margin_s)
            if not isinstance(result, list):
                raise BotApiError("Telegram getUpdates answered without a list of updates")
        except BotApiError as exc:
            self.failures += 1
            wait = self._wait(self.failures, exc.retry_after)
            log = logger.warning if self.failures == 1 or exc.retry_after is not None else logger.debug
            log("Telegram commands: {} (failure {} in a row); polling again in {:.1f} s", exc, self.failures, wait)
            await asyncio.sleep(wait)
            return offset
        if self.failures:
            logger.info("Telegram commands: reachable again after {} failed poll(s)", self.failures)
            self.failures = 0
        for update in result:
            uid, cmd = parse_update(update)
            if uid is None:
                logger.warning("Telegram commands: skipped a malformed update (no update_id)")
                continue
            if uid < offset:
                continue
            offset = uid + 1
            await self.store.set_meta_value(OFFSET_KEY, str(offset))  # before acting: at most once
            if cmd is None:
                continue
            await self._handle(cmd)
        return offset

    def _wait(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_s)
        return backoff_s(max(failures, 1), base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, jitter=self.rng())

    async def _handle(self, cmd: Command) -> None:
        if cmd.chat_id not in self.allowed_chats:
            if cmd.chat_id not in self._ignored_chats and len(self._ignored_chats) < IGNORED_CHATS_KEPT:
                self._ignored_chats.add(cmd.chat_id)
                logger.warning("Telegram commands: ignored /{} from chat {}, which is not in "
                               "notify.telegram.allowed_chat_ids (logged once per chat)", cmd.name, cmd.chat_id)
            return
        logger.info("Telegram command /{} {} from chat {}", cmd.name, " ".join(cmd.args), cmd.chat_id)
        try:
            async with asyncio.timeout(self.command_timeout_s):
                reply = await self.answer(cmd)
        except TimeoutError:
            reply = Reply(f"/{cmd.name}: no answer within {self.command_timeout_s:g} s; see /status")
        except Exception as exc:
            reason = str(exc).strip("'\"") or type(exc).__name__  # a KeyError's text comes quoted
            reply = Reply(f"/{cmd.name} failed: {reason}")
        self.handled += 1
        await self.send(cmd.chat_id, reply)

    async def send(self, chat_id: str, reply: Reply, attempts: int = 3) -> bool:
        """sendMessage with a few tries (honouring retry_after); False, logged, when it never went out."""
        text = reply.text if len(reply.text) <= TELEGRAM_MAX_CHARS - 20 else reply.text[:TELEGRAM_MAX_CHARS - 21] + "…"
        body: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if reply.monospace:
            body = {"chat_id": chat_id, "text": f"<pre>{_html(text)}</pre>", "parse_mode": "HTML"}
        for attempt in range(1, attempts + 1):
            try:
                await self.api.call("sendMessage", body, self.request_margin_s)
                return True
            except BotApiError as exc:
                if attempt == attempts:
                    logger.warning("Telegram commands: could not reply to chat {} after {} attempt(s): {}",
                                   chat_id, attempt, exc)
                    return False
                await asyncio.sleep(self._wait(attempt, exc.retry_after))
        return False


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
