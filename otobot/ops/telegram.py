"""Telegram commands by long polling getUpdates: allowed chats only, bounded waits, never in trading's way."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from loguru import logger

from otobot.ops.tgflood import FloodGate
from otobot.ops.tgtext import TELEGRAM_MAX_CHARS, split_message
from otobot.store.db import Store

OFFSET_KEY = "telegram_update_offset"  # in the store's meta table: a restart never re-runs an old command

IGNORED_CHATS_KEPT = 1_000  # bound: strangers logged once each; past this many they are ignored silently


class BotApiError(Exception):
    """A Bot API call that did not succeed, with Telegram's own `description`; `retry_after` (seconds) when
    Telegram asked us to slow down, `migrate_to` when a group became a supergroup (its new chat id)."""

    def __init__(self, message: str, *, status: int | None = None, description: str = "",
                 retry_after: float | None = None, migrate_to: str | None = None) -> None:
        super().__init__(message)
        self.status, self.description = status, description
        self.retry_after, self.migrate_to = retry_after, migrate_to

    @property
    def retryable(self) -> bool:
        """Worth sending again: no answer, 429 or a 5xx. A 400/403 ("chat not found", "bot was blocked by the
        user", "message is too long") fails the same way every time."""
        return self.status is None or self.status == 429 or self.status >= 500


FIXES = {401: "the bot token was refused (revoked in @BotFather?): set a valid notify.telegram.bot_token",
         404: "the bot token was refused: check notify.telegram.bot_token",
         409: "another client polls this bot (a second otobot with the same bot token?) or a webhook is set on it "
              "(call deleteWebhook once); one bot token per daemon"}


@dataclass(frozen=True, slots=True)
class Command:
    chat_id: str
    name: str  # without the slash and any @botname: "status"
    args: tuple[str, ...]
    mention: str | None = None  # "OtherBot" of /pause@OtherBot: meant for that bot only (lowercased)
    date_s: int | None = None  # when the user sent it (Telegram's message.date, unix seconds)


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
    name, _, mention = words[0][1:].partition("@")
    date = message.get("date")
    date_s = date if isinstance(date, int) and not isinstance(date, bool) else None
    return uid, Command(chat_id=str(chat_id), name=name.lower(), args=tuple(words[1:]),
                        mention=mention.lower() or None, date_s=date_s)


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
        raise api_error(method, status, reply)


def api_error(method: str, status: int, reply: dict[str, Any]) -> BotApiError:
    """The BotApiError of a refused call: Telegram's description kept, the fix named where there is one."""
    params = reply.get("parameters")
    params = params if isinstance(params, dict) else {}
    code = reply.get("error_code")
    status = code if status == 200 and isinstance(code, int) else status
    description = str(reply.get("description") or "")[:200]
    retry = params.get("retry_after")
    wait = float(retry) if isinstance(retry, int | float) and not isinstance(retry, bool) else None
    migrate = params.get("migrate_to_chat_id")
    migrate_to = str(migrate) if isinstance(migrate, int | str) and not isinstance(migrate, bool) else None
    if status == 429:
        text = f"Telegram {method}: too many requests" + (f" ({description})" if description else "")
    else:
        text = f"Telegram {method} answered HTTP {status}" + (f" \"{description}\"" if description else "")
        if status in FIXES:
            text += f": {FIXES[status]}"
    return BotApiError(text, status=status, description=description, retry_after=wait, migrate_to=migrate_to)


@dataclass
class TelegramCommands:
    """Polls for commands and answers them, one at a time, each within `command_timeout_s`. Owned by the
    daemon, which cancels it on shutdown. An outage only delays replies: every failure waits a capped,
    jittered backoff (or Telegram's own `retry_after`) and polls again, forever; a lasting one (revoked token,
    another poller, a webhook) is a WARNING every `warn_every_s` and shows in `health()`."""

    api: BotApi
    store: Store
    allowed_chats: frozenset[str]
    answer: Answer
    poll_timeout_s: float = 25.0
    request_margin_s: float = 10.0  # beyond the long poll's own wait: then the request counts as hung
    command_timeout_s: float = 15.0
    max_command_age_s: float = 120.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    retry_after_cap_s: float = 3600.0
    warn_every_s: float = 300.0
    rng: Callable[[], float] = random.random
    clock: Callable[[], float] = time.time
    # The bot's flood gate, shared with its notifications (TelegramChats.gate): a reply takes its turn behind them.
    gate: FloodGate | None = None
    failures: int = 0
    stalls: int = 0  # polls in a row that answered at once and moved nothing: backed off, never a tight loop
    handled: int = 0
    polls: int = 0
    username: str | None = None  # this bot's, from getMe (lowercased): /cmd@name for another bot is not ours
    problem: str | None = None
    problem_since_ms: int | None = None
    last_ok_ms: int | None = None
    _warned_at: float | None = None
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

    def health(self) -> dict[str, Any]:
        """The poller for status, /health and the systemd status line: ok, or the problem, since when, its fix."""
        state = "polling" if self.problem is None and self.last_ok_ms is not None else \
            "starting" if self.problem is None else "failing"
        return {"ok": self.problem is None, "state": state, "problem": self.problem,
                "since_ms": self.problem_since_ms, "last_ok_ms": self.last_ok_ms, "bot": self.username,
                "failures": self.failures, "commands": self.handled}

    async def run(self) -> None:
        offset: int | None = None
        while True:
            try:
                if self.username is None:
                    await self._identify()
                    continue
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

    async def _identify(self) -> None:
        """getMe once: commands are read only once the bot knows its own name (for /cmd@name in groups)."""
        try:
            me = await self.api.call("getMe", {}, self.request_margin_s)
            name = me.get("username") if isinstance(me, dict) else None
            if not isinstance(name, str) or not name:
                raise BotApiError("Telegram getMe answered without the bot's username")
        except BotApiError as exc:
            await self._failed(exc)
            return
        self.username = name.lower()
        logger.info("Telegram commands: polling as @{}", name)

    async def poll_once(self, offset: int) -> int:
        """One getUpdates round and its commands; returns the next offset. Waits out a failure, or a poll that
        answered at once without moving the offset, before returning: never a tight loop."""
        body: dict[str, Any] = {"timeout": int(self.poll_timeout_s), "allowed_updates": ["message"]}
        if offset:
            body["offset"] = offset
        started = time.monotonic()
        self.polls += 1
        try:
            result = await self.api.call("getUpdates", body, self.poll_timeout_s + self.request_margin_s)
            if not isinstance(result, list):
                raise BotApiError("Telegram getUpdates answered without a list of updates")
        except BotApiError as exc:
            await self._failed(exc)
            return offset
        self._recovered()
        parsed = [parse_update(update) for update in result]
        ids = [uid for uid, _ in parsed if uid is not None]
        if ids and offset and max(ids) < offset:
            # The reference server answers an offset past its queue from the queue's head: Telegram restarted
            # its update ids (after a week without updates) below ours. These are new updates: take them.
            logger.warning("Telegram commands: update ids restarted below our offset ({}..{} < {}); taking them "
                           "as new", min(ids), max(ids), offset)
            offset = min(ids)
        start_offset = offset
        for uid, cmd in parsed:
            if uid is None:
                logger.warning("Telegram commands: skipped a malformed update (no update_id)")
                continue
            if uid < offset:
                continue
            offset = uid + 1
            await self.store.set_meta_value(OFFSET_KEY, str(offset))  # before acting: at most once
            if cmd is not None:
                await self._handle(cmd)
        quick = time.monotonic() - started < min(1.0, max(self.poll_timeout_s, 0.1))
        if offset == start_offset and quick and (result or self.poll_timeout_s > 0):
            self.stalls += 1
            wait = backoff_s(self.stalls, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, jitter=self.rng())
            log = logger.warning if self.stalls in (3, 30) else logger.debug
            log("Telegram commands: getUpdates answered at once with nothing new ({} in a row); waiting {:.1f} s",
                self.stalls, wait)
            await asyncio.sleep(wait)
        else:
            self.stalls = 0
        return offset

    async def _failed(self, exc: BotApiError) -> None:
        self.failures += 1
        now = time.monotonic()
        lasting = exc.status in (401, 404, 409)
        wait = self._wait(self.failures, exc.retry_after)
        if lasting:
            wait = max(wait, min(self.backoff_cap_s, self.backoff_base_s * 5))
        changed = str(exc) != self.problem
        if self.problem is None:
            self.problem_since_ms = int(self.clock() * 1000)
        self.problem = str(exc)
        due = self._warned_at is None or now - self._warned_at >= self.warn_every_s
        if changed or due or exc.retry_after is not None:
            self._warned_at = now
            since = "" if self.failures == 1 else f" since {_hhmm((self.problem_since_ms or 0) / 1000)} UTC"
            logger.warning("Telegram commands: {} (failure {} in a row{}); polling again in {:.1f} s", exc,
                           self.failures, since, wait)
        else:
            logger.debug("Telegram commands: {} (failure {} in a row); polling again in {:.1f} s", exc,
                         self.failures, wait)
        await asyncio.sleep(wait)

    def _recovered(self) -> None:
        self.last_ok_ms = int(self.clock() * 1000)
        if self.failures:
            logger.info("Telegram commands: reachable again after {} failed poll(s)", self.failures)
        self.failures, self.problem, self.problem_since_ms, self._warned_at = 0, None, None, None

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
        if cmd.mention is not None and cmd.mention != self.username:
            logger.debug("Telegram commands: /{}@{} is for another bot", cmd.name, cmd.mention)
            return
        said = " ".join((f"/{cmd.name}", *cmd.args))
        age = self.clock() - cmd.date_s if cmd.date_s is not None else 0.0
        if age > self.max_command_age_s:
            logger.warning("Telegram command {} from chat {} ignored: sent at {} UTC, {} ago (older than "
                           "notify.telegram.max_command_age_s = {:g} s)", said, cmd.chat_id,
                           _hhmm(cmd.date_s or 0), _ago(age), self.max_command_age_s)
            await self.send(cmd.chat_id, Reply(f"ignored: {said} sent at {_hhmm(cmd.date_s or 0)} UTC, {_ago(age)} "
                                               f"ago (commands older than {_ago(self.max_command_age_s)} are not "
                                               "run); send it again if it still holds"))
            return
        logger.info("Telegram command {} from chat {}", said, cmd.chat_id)
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
        """sendMessage, a long text as several messages split at line ends (never cut); each with a few tries
        honouring retry_after. False, logged as an ERROR with Telegram's description, when a part never went out."""
        ok = True
        for body in message_bodies(chat_id, reply):
            ok = await self._send_one(body, attempts) and ok
        return ok

    async def _send_one(self, body: dict[str, Any], attempts: int) -> bool:
        chat_id = body["chat_id"]
        attempt = 0
        if self.gate is not None:
            await self.gate.turn(chat_id)  # the message's slot; a retry waits its backoff or retry_after instead
        while True:
            attempt += 1
            try:
                await self.api.call("sendMessage", body, self.request_margin_s)
                return True
            except BotApiError as exc:
                if exc.migrate_to is not None and body["chat_id"] != exc.migrate_to:
                    logger.warning("Telegram commands: chat {} became supergroup {}; replying there (put {} in "
                                   "notify.telegram.allowed_chat_ids)", chat_id, exc.migrate_to, exc.migrate_to)
                    body = {**body, "chat_id": exc.migrate_to}
                    continue
                if attempt >= attempts or not exc.retryable:
                    logger.error("Telegram commands: could not reply to chat {} after {} attempt(s): {}",
                                 chat_id, attempt, exc)
                    return False
                await asyncio.sleep(self._wait(attempt, exc.retry_after))


def message_bodies(chat_id: str, reply: Reply) -> list[dict[str, Any]]:
    """The sendMessage bodies of one reply: each part ≤ 4096 characters as Telegram counts them."""
    if not reply.monospace:
        return [{"chat_id": chat_id, "text": part} for part in split_message(reply.text)]
    bodies, limit = [], TELEGRAM_MAX_CHARS - len("<pre></pre>")
    pending = split_message(reply.text, limit)
    while pending:
        part = pending.pop(0)
        html = _html(part)
        if len(html) > limit:  # escaping grew it: split this part finer
            pending[:0] = split_message(part, max(1, len(part) * limit // len(html) - 1))
            continue
        bodies.append({"chat_id": chat_id, "text": f"<pre>{html}</pre>", "parse_mode": "HTML"})
    return bodies


def _hhmm(unix_s: float) -> str:
    return time.strftime("%H:%M", time.gmtime(unix_s))


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
