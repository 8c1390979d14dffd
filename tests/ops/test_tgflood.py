"""One bot's flood gate (Telegram's bots FAQ): each chat's pace and 30 a second overall, shared by notifications
and command replies; table-driven on a fake clock, then against the fake Bot API, which enforces the same limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from otobot.ops.notify import Notification, NotifyHub, TelegramNotifier
from otobot.ops.telegram import BotApi, Reply, TelegramCommands
from otobot.ops.tgcommands import CommandAnswers
from otobot.ops.tgflood import ChatLimits, FloodGate
from otobot.ops.tgoutbox import TelegramChats, bot_key
from otobot.store.db import Store
from tests.botapi import TOKEN, FakeBotApi, FloodLimits
from tests.helpers import wait_for


@pytest.mark.parametrize(("sends", "chat", "at", "wait"), [
    ([], "42", 0.0, 0.0),  # nothing sent yet
    ([("42", 0.0)], "42", 0.4, 0.85),  # a private chat: one a second (every window + the arrival margin)
    ([("42", 0.0)], "43", 0.4, 0.0),  # another chat is not held back by it
    ([("-100", t * 0.1) for t in range(20)], "-100", 2.0, 58.25),  # a group: 20 a minute, the oldest frees a slot
    ([("-100", t * 0.1) for t in range(19)], "-100", 2.0, 0.0),
    ([(str(c), 0.5) for c in range(30)], "99", 0.9, 0.85),  # 30 a second over all chats
    ([(str(c), 0.5) for c in range(30)], "99", 1.75, 0.0),
])
def test_wait_before_the_next_message(sends: list[tuple[str, float]], chat: str, at: float, wait: float) -> None:
    now = [0.0]
    gate = FloodGate(ChatLimits(), clock=lambda: now[0])
    for sent_to, t in sends:
        now[0] = t
        asyncio.run(gate.turn(sent_to))  # each was free at its time: taken at once
    now[0] = at
    assert gate.wait_s(chat) == pytest.approx(wait)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_forty_chats_at_once_keep_under_thirty_a_second(bot_api: FakeBotApi,
                                                              session: aiohttp.ClientSession) -> None:
    chats = TelegramChats()
    notifiers = [TelegramNotifier(session, TOKEN, str(1000 + i), base_url=bot_api.url, chats=chats)
                 for i in range(40)]
    started = time.monotonic()
    async with NotifyHub(notifiers) as hub:
        hub.notify(Notification(kind="resumed", user="alice", text="alice resumed"))  # to every chat at once
        await wait_for(lambda: all(n.outbox.delivered == 1 for n in notifiers), 30, "the message in each chat")
    assert bot_api.refused == []  # the fake answers 429 past 30 a second: not once
    assert {str(m["chat_id"]) for m in bot_api.sent} == {n.chat_id for n in notifiers}
    assert time.monotonic() - started >= 1.0  # the 31st waited for the second to turn
    await chats.close()


async def test_a_command_reply_takes_its_turn_behind_a_notification(bot_api: FakeBotApi, store: Store,
                                                                    session: aiohttp.ClientSession) -> None:
    bot_api.limits = FloodLimits(private_per_s=1.0, private_burst=1)  # one a second, no burst
    chats = TelegramChats()
    tg = TelegramNotifier(session, TOKEN, "42", base_url=bot_api.url, chats=chats)
    commands = TelegramCommands(BotApi(session, TOKEN, bot_api.url), store, frozenset({"42"}),
                                CommandAnswers(None, store, lambda: None),  # type: ignore[arg-type]
                                gate=chats.gate(bot_key(bot_api.url, TOKEN)))
    async with NotifyHub([tg]) as hub:
        hub.notify(Notification(kind="risk_challenge", user="alice", text="alice paused (risk_challenge)"))
        await wait_for(lambda: tg.outbox.delivered == 1, 10, "the alert")
        assert await commands.send("42", Reply("status: all well"))
    assert bot_api.refused == []  # without the shared gate the reply drew a 429 and waited retry_after
    assert [t.split(":")[0] for t in bot_api.replies("42")] == ["otobot [alice] risk_challenge", "status"]
    await chats.close()
