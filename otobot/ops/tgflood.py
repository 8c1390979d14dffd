"""Telegram's flood limits for one bot: each chat's pace and the bot's overall rate, shared by every sender."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# A slot is taken when a request is about to go out; Telegram counts it when it arrives, a little later (and the
# earlier message may have arrived late). Without this margin on every window the 31st message of a second, sent
# the instant the first one's second is over, can still land within Telegram's second (the fake Bot API, which
# counts as Telegram does, answered it 429).
ARRIVAL_MARGIN_S = 0.25


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """Telegram's bots FAQ: "avoid sending more than one message per second" in a chat, and "not more than 20
    messages per minute to the same group". A group's chat id is negative; a user's is positive."""

    private_interval_s: float = 1.0
    group_per_window: int = 20
    group_window_s: float = 60.0
    global_per_s: int = 30  # the FAQ's "not more than 30 messages per second or so" for one bot, all chats together
    max_attempts: int = 8  # network trouble / 5xx / 429 in a row before a message is given up (as an ERROR)
    retry_base_s: float = 1.0
    retry_cap_s: float = 60.0
    retry_after_cap_s: float = 3600.0
    # A burst's events (a daemon-wide outage pausing every user) arrive within milliseconds of each other: a
    # routine message waits this long for the rest of its burst, so they go out as one message, not 60 (an urgent
    # one never waits). At 20 a minute in a group, sending each alone would hold the last one for 3 minutes.
    linger_s: float = 1.0
    urgent_linger_s: float = 0.2  # a burst of urgent ones (every user challenged at once) is coalesced too
    max_pending: int = 10_000  # beyond: refused with an ERROR (coalescing keeps a backlog far below this)


class FloodGate:
    """Telegram's flood limits for everything one bot sends: a chat's own pace (one a second in a private chat,
    `group_per_window` a window in a group) and `global_per_s` over all its chats. Notifications and command replies
    take their turns here, so a reply right after an alert waits its turn instead of drawing a 429."""

    def __init__(self, limits: ChatLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or ChatLimits()
        self.clock = clock
        # Bound: one entry per chat otobot sends to (the configured chats and the allowed command chats), each
        # holding at most a group window's sends.
        self._chat: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()  # bound: the last second's sends, at most global_per_s

    def wait_s(self, chat_id: str) -> float:
        """Seconds until `chat_id` may be sent to (0: now)."""
        now, lim = self.clock(), self.limits
        waits = [0.0]
        window = 1.0 + ARRIVAL_MARGIN_S
        while self._all and self._all[0] <= now - window:
            self._all.popleft()
        if len(self._all) >= lim.global_per_s:
            waits.append(self._all[0] + window - now)
        sent = self._chat.get(chat_id)
        if sent:
            if chat_id.startswith("-"):
                group_window = lim.group_window_s + ARRIVAL_MARGIN_S
                while sent and sent[0] <= now - group_window:
                    sent.popleft()
                if len(sent) >= lim.group_per_window:
                    waits.append(sent[0] + group_window - now)
            elif lim.private_interval_s > 0:
                waits.append(sent[-1] + lim.private_interval_s + ARRIVAL_MARGIN_S - now)
        return max(waits)

    async def turn(self, chat_id: str) -> None:
        """Wait for `chat_id`'s next slot and take it (taken before returning: no other sender gets it meanwhile)."""
        # Waiting for time to pass, not for an event: another sender may take the slot first, so look again.
        while (wait := self.wait_s(chat_id)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        now = self.clock()
        self._all.append(now)
        sent = self._chat.setdefault(chat_id, deque())
        sent.append(now)
        if not chat_id.startswith("-"):
            while len(sent) > 1:  # a private chat's pace needs only the last send
                sent.popleft()
