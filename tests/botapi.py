"""A fake Telegram Bot API (and webhook receiver) on 127.0.0.1, written from Telegram's documentation and the
reference server (tdlib/telegram-bot-api, Client::process_get_updates_query / do_get_updates), not from otobot.

What it plays, as the real one does:
- getUpdates serves a queue. An `offset` inside the queue confirms (forgets) every update below it; an offset
  outside the queue (below its head or past its tail) is answered from the head, confirming nothing: that is how
  a client that kept an offset from before an update-id restart sees the same low ids again and again.
  A negative offset keeps only the last -offset updates. `timeout` holds an empty answer; the same offset again
  within 3 s gets at least a 3 s hold, and within 0.5 s only one update (the reference server's anti-spin).
- A second long poll ends the first with 409 "terminated by other getUpdates request"; a webhook makes every
  getUpdates a 409 "can't use getUpdates method while webhook is active".
- A revoked token answers 401 "Unauthorized" to every method.
- sendMessage: 1-4096 characters ("message is too long" above), "chat not found", "bot was blocked by the user",
  "group chat was upgraded to a supergroup chat" with `parameters.migrate_to_chat_id`, and the flood limits of
  the bots FAQ: about one message a second in one chat (short bursts allowed), at most 20 a minute in a group,
  about 30 a second overall; over them, 429 "Too Many Requests: retry after N" with `parameters.retry_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import local_http

TOKEN = "987654:FAKE-bot-token"
CHAT = "42"
USERNAME = "otobot_test_bot"
MAX_CHARS = 4096


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


@dataclass
class FloodLimits:
    """The bots FAQ's limits; tests may shrink `group_window_s` to run a minute's worth in seconds."""

    private_per_s: float = 1.0
    private_burst: int = 3  # "we may allow short bursts that go over this limit"
    group_per_window: int = 20
    group_window_s: float = 60.0
    global_per_s: int = 30


@dataclass
class FakeBotApi:
    """api.telegram.org on 127.0.0.1: queued updates served by long polling, replies recorded, faults scripted."""

    url: str = ""
    updates: list[Any] = field(default_factory=list)  # the queue: served until an offset confirms them
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted sendMessage bodies
    refused: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (HTTP status, body) not accepted
    polls: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    script: list[tuple[str, float]] = field(default_factory=list)  # ("429", retry_after) | ("hang", seconds)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # POST /hook/NAME: webhook receivers
    next_id: int = 100
    head: int = 100  # the lowest update id still in the queue (or the next one when it is empty)
    revoked: bool = False  # the token was revoked (BotFather /revoke): 401 to everything
    webhook_url: str = ""  # set: getUpdates is a 409
    chat_types: dict[str, str] = field(default_factory=dict)  # chat id -> private|group|supergroup; else by sign
    missing_chats: set[str] = field(default_factory=set)
    blocked_chats: set[str] = field(default_factory=set)
    migrated: dict[str, str] = field(default_factory=dict)  # an upgraded group -> its supergroup's id
    limits: FloodLimits | None = field(default_factory=FloodLimits)  # None: no flood limits
    now: Any = time.monotonic
    _sent_at: dict[str, deque[float]] = field(default_factory=dict)
    _all_sent_at: deque[float] = field(default_factory=deque)
    _long_poll: asyncio.Future[None] | None = None
    _last_poll: tuple[int, float] | None = None

    # ---------------------------------------------------------------- the update queue

    def push(self, text: str, chat: int | str = CHAT, *, date: float | None = None, chat_type: str = "private") -> int:
        """A message from a user; `date` (unix seconds) is when they sent it, now by default."""
        return self.push_raw({"message": {"message_id": self.next_id, "date": int(time.time() if date is None
                                                                                  else date),
                                          "chat": {"id": int(chat), "type": chat_type}, "text": text}})

    def push_raw(self, update: Any, with_id: bool = True) -> int:
        uid = self.next_id
        self.next_id += 1
        if with_id and isinstance(update, dict):
            update = {"update_id": uid, **update}
        self.updates.append(update)
        self.arrived.set()
        return uid

    def restart_ids(self, first: int) -> None:
        """Telegram picks a new random update id after a week without updates (the queue is empty by then):
        the next update gets `first`, which may be below or above every id the bot has seen."""
        self.updates = [u for u in self.updates if not _uid_of(u)]
        self.next_id = self.head = first

    def replies(self, chat: str = CHAT) -> list[str]:
        return [str(m["text"]) for m in self.sent if str(m["chat_id"]) == chat]

    def _serve(self, offset: int, limit: int) -> list[Any]:
        ids = [uid for u in self.updates if (uid := _uid_of(u)) is not None]
        self.head = min(ids) if ids else self.next_id
        if offset < 0:
            keep = set(sorted(ids)[offset:])
            self.updates = [u for u in self.updates if _uid_of(u) is None or _uid_of(u) in keep]
            offset = 0
        if offset <= 0 or not self.head <= offset <= self.next_id:
            offset = self.head  # "in the past" or "in the future": served from the head, nothing forgotten
        else:
            self.updates = [u for u in self.updates if (uid := _uid_of(u)) is None or uid >= offset]
        malformed = [u for u in self.updates if _uid_of(u) is None]
        ok = sorted((u for u in self.updates if (_uid_of(u) or -1) >= offset), key=lambda u: _uid_of(u) or 0)
        out = (malformed + ok)[:limit]
        self.updates = [u for u in self.updates if _uid_of(u) is not None or u not in out]  # malformed: once
        return out

    # ---------------------------------------------------------------- HTTP

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.startswith("/hook/"):
            self.hooks.setdefault(request.path[len("/hook/"):], []).append(await request.json())
            return web.json_response({"ok": True})
        if not request.path.startswith(f"/bot{TOKEN}/") or self.revoked:
            return _error(401, "Unauthorized")
        method = request.path.rsplit("/", 1)[-1].lower()
        body = await request.json() if request.can_read_body else {}
        if method == "getme":
            return web.json_response({"ok": True, "result": {"id": int(TOKEN.split(":")[0]), "is_bot": True,
                                                             "first_name": "otobot test", "username": USERNAME}})
        if method == "sendmessage":
            return self._send_message(body)
        if method == "setwebhook":
            self.webhook_url = str(body.get("url") or "")
            self._end_long_poll()
            return web.json_response({"ok": True, "result": True})
        if method == "deletewebhook":
            self.webhook_url = ""
            return web.json_response({"ok": True, "result": True})
        if method != "getupdates":
            return _error(404, "Not Found")
        return await self._get_updates(body)

    async def _get_updates(self, body: dict[str, Any]) -> web.Response:
        self.polls.append((self.now(), body))
        if self.webhook_url:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                               "to delete the webhook first")
        if self.script:
            kind, value = self.script.pop(0)
            if kind == "hang":
                await asyncio.sleep(value)
            if kind == "429":
                return _error(429, f"Too Many Requests: retry after {value:g}", retry_after=value)
        offset = int(body.get("offset", 0))
        limit = max(1, min(100, int(body.get("limit", 100))))
        timeout = max(0.0, min(50.0, float(body.get("timeout", 0))))
        now = self.now()
        if self._last_poll is not None and self._last_poll[0] == offset:
            if now < self._last_poll[1] + 3.0:
                timeout = max(timeout, 3.0)
            if now < self._last_poll[1] + 0.5:
                limit = 1
        self._last_poll = (offset, now)
        result = self._serve(offset, limit)
        if not result and timeout > 0:
            self._end_long_poll()
            me = self._long_poll = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while not result:
                        self.arrived.clear()
                        waiter = asyncio.ensure_future(self.arrived.wait())
                        try:
                            await asyncio.wait({waiter, me}, return_when=asyncio.FIRST_COMPLETED)
                        finally:
                            waiter.cancel()
                        if me.done():
                            return _error(409, "Conflict: terminated by other getUpdates request; make sure that "
                                               "only one bot instance is running")
                        result = self._serve(offset, limit)
            if self._long_poll is me:
                self._long_poll = None
        return web.json_response({"ok": True, "result": result})

    def _end_long_poll(self) -> None:
        if self._long_poll is not None and not self._long_poll.done():
            self._long_poll.set_result(None)
        self._long_poll = None

    def _send_message(self, body: dict[str, Any]) -> web.Response:
        chat = str(body.get("chat_id", ""))
        text = str(body.get("text") or "")
        refusal = self._refusal(chat, text)
        if refusal is not None:
            self.refused.append((refusal.status, body))
            return refusal
        self.sent.append(body)
        return web.json_response({"ok": True, "result": {"message_id": len(self.sent), "date": int(time.time()),
                                                         "chat": {"id": int(chat), "type": self._type(chat)},
                                                         "text": text}})

    def _refusal(self, chat: str, text: str) -> web.Response | None:
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > MAX_CHARS:
            return _error(400, "Bad Request: message is too long")
        if chat in self.missing_chats:
            return _error(400, "Bad Request: chat not found")
        if chat in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat in self.migrated:
            return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                          migrate_to_chat_id=int(self.migrated[chat]))
        wait = self._flood_wait(chat)
        if wait > 0:
            return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        return None

    def _type(self, chat: str) -> str:
        return self.chat_types.get(chat) or ("group" if chat.startswith("-") else "private")

    def _flood_wait(self, chat: str) -> int:
        """Whole seconds until this message would be within the limits; 0: send it now (and count it)."""
        if self.limits is None:
            return 0
        lim, now = self.limits, self.now()
        times = self._sent_at.setdefault(chat, deque())
        glob = self._all_sent_at
        while glob and glob[0] <= now - 1.0:
            glob.popleft()
        waits = [glob[0] + 1.0 - now] if len(glob) >= lim.global_per_s else []
        if self._type(chat) == "private":
            window = lim.private_burst / lim.private_per_s
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= lim.private_burst:
                waits.append(times[0] + window - now)
        else:
            while times and times[0] <= now - lim.group_window_s:
                times.popleft()
            if len(times) >= lim.group_per_window:
                waits.append(times[0] + lim.group_window_s - now)
        if waits:
            return max(1, math.ceil(max(waits)))
        times.append(now)
        glob.append(now)
        return 0


def _uid_of(update: Any) -> int | None:
    if isinstance(update, dict) and isinstance(update.get("update_id"), int):
        return int(update["update_id"])
    return None


@contextlib.asynccontextmanager
async def serve_bot_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    async with local_http(fake.handle) as url:
        fake.url = url
        yield fake
