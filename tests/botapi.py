"""A fake Telegram Bot API (and webhook receiver) on 127.0.0.1 for the Telegram command and routing tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import local_http

TOKEN = "987654:FAKE-bot-token"
CHAT = "42"


@dataclass
class FakeBotApi:
    """api.telegram.org on 127.0.0.1: queued updates served by long polling, replies recorded, faults scripted."""

    url: str = ""
    updates: list[Any] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    polls: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    script: list[tuple[str, float]] = field(default_factory=list)  # ("429", retry_after) | ("hang", seconds)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # POST /hook/NAME: webhook receivers
    next_id: int = 100

    def push(self, text: str, chat: int | str = CHAT) -> int:
        return self.push_raw({"message": {"message_id": self.next_id, "chat": {"id": int(chat), "type": "private"},
                                          "text": text}})

    def push_raw(self, update: Any, with_id: bool = True) -> int:
        uid = self.next_id
        self.next_id += 1
        if with_id and isinstance(update, dict):
            update = {"update_id": uid, **update}
        self.updates.append(update)
        self.arrived.set()
        return uid

    def replies(self, chat: str = CHAT) -> list[str]:
        return [str(m["text"]) for m in self.sent if str(m["chat_id"]) == chat]

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.startswith("/hook/"):
            self.hooks.setdefault(request.path[len("/hook/"):], []).append(await request.json())
            return web.json_response({"ok": True})
        if not request.path.startswith(f"/bot{TOKEN}/"):
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.path.rsplit("/", 1)[-1]
        body = await request.json()
        if method == "sendMessage":
            self.sent.append(body)
            return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})
        self.polls.append((time.monotonic(), body))
        if self.script:
            kind, value = self.script.pop(0)
            if kind == "hang":
                await asyncio.sleep(value)
            if kind == "429":
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry "
                                          f"after {value:g}", "parameters": {"retry_after": value}}, status=429)
        offset = int(body.get("offset", 0))

        def pending() -> list[Any]:
            return [u for u in self.updates if not isinstance(u, dict) or not isinstance(u.get("update_id"), int)
                    or u["update_id"] >= offset]

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(body.get("timeout", 0))):
                while not pending():
                    self.arrived.clear()
                    await self.arrived.wait()
        result = pending()
        self.updates = [u for u in self.updates if u not in result or (isinstance(u, dict)
                        and isinstance(u.get("update_id"), int))]  # malformed ones are served once
        return web.json_response({"ok": True, "result": result})


@contextlib.asynccontextmanager
async def serve_bot_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    async with local_http(fake.handle) as url:
        fake.url = url
        yield fake
