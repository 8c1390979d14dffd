"""One queue per Telegram chat: paced within Telegram's flood limits, retry_after honoured, urgent first, bursts
coalesced, a group's move to a supergroup followed, and nothing given up without an ERROR saying why."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from otobot.ops.telegram import BotApi, BotApiError, backoff_s
from otobot.ops.tgflood import ChatLimits, FloodGate
from otobot.ops.tgtext import split_message

# Ahead of routine ones: each needs a person now (log in again, pass a check, sell by hand, look at an order).
URGENT_KINDS = frozenset({"risk_challenge", "auth_expired", "unwind_failed", "unknown_order", "stray"})
# A pause for these reasons arrives as kind "paused" (trading/ names the kind), so its text tells it apart.
URGENT_PAUSES = ("(unwind_failed)",)
PLACEHOLDER = "\x00"


def is_urgent(kind: str, text: str) -> bool:
    return kind in URGENT_KINDS or (kind == "paused" and any(p in text for p in URGENT_PAUSES))


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    user: str | None
    text: str


def render(batch: list[Message]) -> str:
    """One message for a batch of one kind: a single event as before; several as one line per distinct text,
    events whose text differs only by the user's name folded into one line that names them all."""
    if len(batch) == 1:
        m = batch[0]
        return f"otobot [{m.user}] {m.kind}: {m.text}" if m.user else f"otobot {m.kind}: {m.text}"
    groups: dict[str, list[str]] = {}
    for m in batch:
        key = re.sub(rf"(?<![\w-]){re.escape(m.user)}(?![\w-])", PLACEHOLDER, m.text) if m.user else m.text
        groups.setdefault(key, []).append(m.user or "all")
    lines = [f"otobot: {len(batch)} × {batch[0].kind}"]
    for key, users in groups.items():
        if len(users) == 1:
            lines.append(f"[{users[0]}] {key.replace(PLACEHOLDER, users[0])}")
        else:
            lines.append(f"{len(users)} users ({', '.join(users)}): {key.replace(PLACEHOLDER, 'USER')}")
    return "\n".join(lines)


class ChatOutbox:
    """The queue and sender task of one chat. `put` never blocks and never raises; the task starts on the first
    message and ends with `close`."""

    def __init__(self, api: BotApi, chat_id: str, config_key: str, limits: ChatLimits | None = None, *,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] = random.random,
                 gate: FloodGate | None = None) -> None:
        self.api, self.chat_id, self.config_key = api, chat_id, config_key
        self.limits = limits or ChatLimits()
        self.clock, self.rng = clock, rng
        self.gate = gate or FloodGate(self.limits, clock=clock)  # shared by every chat of one bot (TelegramChats)
        self.urgent: deque[Message] = deque()
        self.routine: deque[Message] = deque()
        self.sent_messages = self.delivered = self.given_up = self.coalesced = 0
        self._not_before = 0.0  # a retry_after Telegram gave: nothing to this chat before it
        self._wake = asyncio.Event()
        self._urgent_came = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is queued or being sent
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ChatOutbox(chat_id={self.chat_id!r})"

    @property
    def pending(self) -> int:
        return len(self.urgent) + len(self.routine)

    def put(self, kind: str, user: str | None, text: str) -> None:
        if self.pending >= self.limits.max_pending:
            self.given_up += 1
            logger.error("Telegram chat {}: {} messages waiting; refused the {} for {} (is Telegram reachable?)",
                         self.chat_id, self.pending, kind, user or "all")
            return
        urgent = is_urgent(kind, text)
        (self.urgent if urgent else self.routine).append(Message(kind, user, text))
        if urgent:
            self._urgent_came.set()
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"telegram-chat-{self.chat_id}")

    async def close(self, drain_s: float = 2.0) -> None:
        """`drain_s` for what is queued to go out, then stop; what is left is logged, never silently lost."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self.pending:
            left = [*self.urgent, *self.routine]
            logger.error("Telegram chat {}: stopping with {} message(s) unsent: {}", self.chat_id, len(left),
                         ", ".join(f"{m.kind} for {m.user or 'all'}" for m in left[:20]))

    async def _run(self) -> None:
        while True:
            if not self.pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            if self.urgent:
                await asyncio.sleep(self.limits.urgent_linger_s)
            elif self.limits.linger_s > 0:
                self._urgent_came.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent_came.wait(), self.limits.linger_s)
            await self._turn()
            batch = self._take()
            if len(batch) > 1:
                self.coalesced += len(batch) - 1
            parts = split_message(render(batch))
            for i, part in enumerate(parts):
                if i:
                    await self._turn()
                await self._send(part, batch)
            self.delivered += len(batch)

    def _take(self) -> list[Message]:
        """The next message's kind, urgent first, with every other waiting message of that kind and priority."""
        queue = self.urgent if self.urgent else self.routine
        kind = queue[0].kind
        batch = [m for m in queue if m.kind == kind]
        rest = [m for m in queue if m.kind != kind]
        queue.clear()
        queue.extend(rest)
        return batch

    async def _turn(self) -> None:
        """Wait out any retry_after Telegram gave this chat, then take the chat's next slot at the bot's gate."""
        await asyncio.sleep(max(0.0, self._not_before - self.clock()))
        await self.gate.turn(self.chat_id)

    async def _send(self, text: str, batch: list[Message]) -> None:
        """One message (its slot taken), retried as Telegram allows: a retry waits its backoff or retry_after."""
        failures = 0
        while True:
            try:
                await self.api.call("sendMessage", {"chat_id": self.chat_id, "text": text}, 10.0)
                self.sent_messages += 1
                return
            except BotApiError as exc:
                if exc.migrate_to is not None and exc.migrate_to != self.chat_id:
                    logger.warning("Telegram chat {} was upgraded to a supergroup: sending to {} for this run; set "
                                   "{} to {} to keep it", self.chat_id, exc.migrate_to, self.config_key,
                                   exc.migrate_to)
                    self.chat_id = exc.migrate_to
                    continue
                failures += 1
                if exc.retry_after is not None:
                    self._not_before = self.clock() + min(exc.retry_after, self.limits.retry_after_cap_s)
                if not exc.retryable or failures >= self.limits.max_attempts:
                    self.given_up += len(batch)
                    logger.error("Telegram chat {}: gave up the {} for {} after {} attempt(s): {}", self.chat_id,
                                 batch[0].kind, ", ".join(sorted({m.user or "all" for m in batch})), failures, exc)
                    return
                wait = (min(exc.retry_after, self.limits.retry_after_cap_s) if exc.retry_after is not None else
                        backoff_s(failures, base_s=self.limits.retry_base_s, cap_s=self.limits.retry_cap_s,
                                  jitter=self.rng()))
                logger.warning("Telegram chat {}: {}; sending the {} again in {:.1f} s", self.chat_id, exc,
                               batch[0].kind, wait)
                await asyncio.sleep(wait)


def bot_key(base_url: str, bot_token: str) -> str:
    """Which bot a sender speaks as (its server and token): the key of its flood gate and outboxes."""
    return f"{base_url}|{bot_token}"


class TelegramChats:
    """Every chat's outbox, one per (bot, chat) whoever notifies it; closed by the daemon at shutdown."""

    def __init__(self, limits: ChatLimits | None = None) -> None:
        self.limits = limits or ChatLimits()
        self.chats: dict[tuple[int, str], ChatOutbox] = {}
        self.gates: dict[int, FloodGate] = {}  # one per bot token: Telegram's limits are the bot's

    def gate(self, token_key: str) -> FloodGate:
        """The flood gate of one bot (its token), shared by its notifications and its command replies."""
        return self.gates.setdefault(hash(token_key), FloodGate(self.limits))

    def outbox(self, api: BotApi, chat_id: str, config_key: str, token_key: str) -> ChatOutbox:
        key = (hash(token_key), chat_id)
        if key not in self.chats:
            self.chats[key] = ChatOutbox(api, chat_id, config_key, self.limits, gate=self.gate(token_key))
        return self.chats[key]

    async def close(self, drain_s: float = 5.0) -> None:
        await asyncio.gather(*(box.close(drain_s) for box in self.chats.values()))
