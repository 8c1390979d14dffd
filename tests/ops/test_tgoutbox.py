"""Notifications through the per-chat outbox against the fake Bot API and its flood limits: a burst to a group
arrives whole within 20 a minute, retry_after is waited out, urgent alerts go first, a group's upgrade to a
supergroup is followed, and a message Telegram refuses is an ERROR with Telegram's words."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from otobot.ops.notify import Notification, NotifyHub, TelegramNotifier
from otobot.ops.tgoutbox import ChatLimits, Message, TelegramChats, render
from tests.botapi import TOKEN, FakeBotApi, FloodLimits
from tests.helpers import wait_for

GROUP = "-1001234"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def telegram(session: aiohttp.ClientSession, bot_api: FakeBotApi, chat: str,
             limits: ChatLimits | None = None) -> TelegramNotifier:
    return TelegramNotifier(session, TOKEN, chat, base_url=bot_api.url, chats=TelegramChats(limits))


def paused(user: str, reason: str = "auth_expired") -> Notification:
    return Notification(kind="paused", user=user, text=f"{user} paused ({reason}): log in as {user} again")


async def test_a_burst_of_60_to_a_group_arrives_whole_within_20_a_minute(
        bot_api: FakeBotApi, session: aiohttp.ClientSession, logs: list[str]) -> None:
    tg = telegram(session, bot_api, GROUP)
    users = [f"u{i:02d}" for i in range(60)]
    started = time.monotonic()
    async with NotifyHub([tg]) as hub:
        for user in users:
            hub.notify(paused(user))
        await wait_for(lambda: tg.outbox.delivered == 60, 30, "all 60 delivered")
    took = time.monotonic() - started

    texts = bot_api.replies(GROUP)
    assert [code for code, _ in bot_api.refused] == []  # not one 429: paced within the group's limit
    assert len(texts) <= 20
    everyone = "\n".join(texts)
    assert all(u in everyone for u in users)
    assert tg.outbox.given_up == 0 and not any(line.startswith("ERROR") for line in logs)
    print(f"60 notifications to a group: {len(texts)} message(s), 60 delivered, 0 dropped, {took:.2f} s")


async def test_messages_to_a_group_keep_to_its_limit_per_window(bot_api: FakeBotApi,
                                                               session: aiohttp.ClientSession) -> None:
    bot_api.limits = FloodLimits(group_per_window=5, group_window_s=1.5)
    tg = telegram(session, bot_api, GROUP, ChatLimits(group_per_window=5, group_window_s=1.5))
    started = time.monotonic()
    async with NotifyHub([tg]) as hub:
        for i in range(8):  # eight kinds: nothing to coalesce
            hub.notify(Notification(kind=f"kind{i}", user="alice", text=f"event {i}"))
        await wait_for(lambda: tg.outbox.delivered == 8, 30, "all 8 delivered")
    assert bot_api.refused == []
    assert len(bot_api.replies(GROUP)) == 8
    assert time.monotonic() - started >= 1.5  # the sixth waited for the window


async def test_retry_after_is_waited_out_not_hammered(bot_api: FakeBotApi, session: aiohttp.ClientSession) -> None:
    bot_api.limits = FloodLimits(private_per_s=1.0, private_burst=1)
    tg = telegram(session, bot_api, "42", ChatLimits(private_interval_s=0.0))  # too fast on purpose
    async with NotifyHub([tg]) as hub:
        for i in range(3):
            hub.notify(Notification(kind=f"kind{i}", user="alice", text=f"event {i}"))
        await wait_for(lambda: tg.outbox.delivered == 3, 30, "all 3 delivered")
    assert len(bot_api.replies("42")) == 3
    assert len(bot_api.refused) <= 2  # one 429 per early message at most: each retry waited retry_after


async def test_urgent_alerts_go_ahead_of_routine_ones(bot_api: FakeBotApi, session: aiohttp.ClientSession) -> None:
    tg = telegram(session, bot_api, "42", ChatLimits(private_interval_s=0.5))
    async with NotifyHub([tg]) as hub:
        hub.notify(Notification(kind="target_reached", user="alice", text="today's target reached"))
        for user in ("bob", "carol", "dave"):
            hub.notify(Notification(kind="daily_summary", user=user, text=f"{user}: volume 10"))
        hub.notify(Notification(kind="risk_challenge", user="erin", text="erin paused (risk_challenge)"))
        await wait_for(lambda: tg.outbox.delivered == 5, 30, "all 5 delivered")
    texts = bot_api.replies("42")
    assert "risk_challenge" in texts[0]  # it came last, while the routine ones waited for their burst
    assert "target_reached" in texts[1]
    assert texts[2].startswith("otobot: 3 × daily_summary") and all(u in texts[2] for u in ("bob", "carol", "dave"))


async def test_a_group_upgraded_to_a_supergroup_is_followed_and_logged_with_the_key(
        bot_api: FakeBotApi, session: aiohttp.ClientSession, logs: list[str]) -> None:
    bot_api.migrated[GROUP] = "-1009999"
    tg = telegram(session, bot_api, GROUP)
    async with NotifyHub([tg]) as hub:
        hub.notify(paused("alice"))
        await wait_for(lambda: tg.outbox.delivered == 1, 30, "the first")
        hub.notify(Notification(kind="resumed", user="alice", text="alice resumed"))
        await wait_for(lambda: tg.outbox.delivered == 2, 30, "the second")
    assert len(bot_api.replies("-1009999")) == 2
    assert len(bot_api.refused) == 1  # the second went straight to the supergroup
    assert any("WARNING" in line and "set notify.telegram.chat_id in otobot.yaml to -1009999" in line
               for line in logs)


async def test_a_refused_message_is_an_error_with_telegrams_description(
        bot_api: FakeBotApi, session: aiohttp.ClientSession, logs: list[str]) -> None:
    bot_api.missing_chats.add("77")
    tg = telegram(session, bot_api, "77")
    async with NotifyHub([tg]) as hub:
        hub.notify(paused("alice"))
        await wait_for(lambda: tg.outbox.given_up == 1, 30, "given up")
    [error] = [line for line in logs if line.startswith("ERROR")]
    assert "gave up the paused for alice after 1 attempt(s)" in error and "chat not found" in error


def test_a_coalesced_burst_names_every_user_once() -> None:
    batch = [Message("paused", u, f"{u} paused (auth_expired): log in as {u} again") for u in ("a", "b", "c")]
    batch.append(Message("paused", "d", "d paused (operator): paused by the operator"))
    assert render(batch).splitlines() == [
        "otobot: 4 × paused",
        "3 users (a, b, c): USER paused (auth_expired): log in as USER again",
        "[d] d paused (operator): paused by the operator"]


async def test_a_coalesced_text_over_4096_characters_goes_out_in_parts(bot_api: FakeBotApi,
                                                                      session: aiohttp.ClientSession) -> None:
    tg = telegram(session, bot_api, GROUP)
    async with NotifyHub([tg]) as hub:
        hub.notify(Notification(kind="first", user=None, text="holds the slot"))
        for i in range(80):
            hub.notify(Notification(kind="stray", user=f"user{i:02d}", text=f"order {i} " + "x" * 80))
        await wait_for(lambda: tg.outbox.delivered == 81, 30, "all delivered")
    texts = bot_api.replies(GROUP)
    assert all(len(t) <= 4096 for t in texts) and len(texts) >= 3
    assert all(f"order {i} " in "\n".join(texts) for i in range(80))
