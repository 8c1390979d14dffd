"""The command poller against a fake Bot API that serves getUpdates as the reference server does: update ids that
restart below or above the stored offset, 401 and 409 that last, old commands, /cmd@otherbot, long replies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from otobot.ops.telegram import OFFSET_KEY, Reply
from otobot.store.db import Store
from tests.botapi import CHAT, USERNAME, FakeBotApi
from tests.helpers import wait_for
from tests.ops.test_telegram import StubControls, poller, reply_to


async def test_update_ids_restarted_below_the_offset_are_taken_without_spinning(
        bot_api: FakeBotApi, store: Store, logs: list[str]) -> None:
    await store.set_meta_value(OFFSET_KEY, "900000")  # kept from before a week without updates
    bot_api.restart_ids(1200)  # Telegram's new random start is below it
    controls = StubControls()
    async with poller(bot_api, store, controls):
        reply = await reply_to(bot_api, "/pause alice")
        polls_then = len(bot_api.polls)
        started = time.monotonic()
        await asyncio.sleep(2.0)  # idle: the poller long-polls, it does not spin
        rate = (len(bot_api.polls) - polls_then) / (time.monotonic() - started)

    assert reply.startswith("alice paused (operator)")
    assert controls.calls == [("pause", "alice")]
    assert int(await store.meta_value(OFFSET_KEY) or 0) == 1201
    assert rate <= 2.0, f"{rate:.1f} polls/s while idle"
    assert any("update ids restarted below our offset (1200..1200 < 900000)" in line for line in logs)


async def test_update_ids_restarted_above_the_offset_are_taken(bot_api: FakeBotApi, store: Store) -> None:
    controls = StubControls()
    async with poller(bot_api, store, controls):
        await reply_to(bot_api, "/pause alice")
        bot_api.restart_ids(2_000_000_000)
        assert (await reply_to(bot_api, "/resume alice")).startswith("alice resumed")
    assert controls.calls == [("pause", "alice"), ("resume", "alice")]
    assert int(await store.meta_value(OFFSET_KEY) or 0) == 2_000_000_001


async def test_a_command_older_than_two_minutes_is_answered_ignored_and_not_run(bot_api: FakeBotApi,
                                                                               store: Store) -> None:
    controls = StubControls()
    sent_at = time.time() - 3 * 3600  # sent while the daemon was down
    async with poller(bot_api, store, controls):
        bot_api.push("/pause alice", date=sent_at)
        await wait_for(lambda: bot_api.replies(), 15, "the answer to an old command")
        fresh = await reply_to(bot_api, "/pause alice", 15)
    hhmm = time.strftime("%H:%M", time.gmtime(sent_at))
    assert bot_api.replies()[0].startswith(f"ignored: /pause alice sent at {hhmm} UTC, 3.0 h ago")
    assert fresh.startswith("alice paused")
    assert controls.calls == [("pause", "alice")]  # the fresh one only


async def test_a_command_for_another_bot_is_not_obeyed(bot_api: FakeBotApi, store: Store) -> None:
    controls = StubControls()
    async with poller(bot_api, store, controls) as tc:
        bot_api.push("/pause@OtherBot alice", chat=CHAT)
        mine = await reply_to(bot_api, f"/pause@{USERNAME.upper()} alice")
        assert tc.username == USERNAME
    assert mine.startswith("alice paused")
    assert controls.calls == [("pause", "alice")]
    assert len(bot_api.replies()) == 1
    assert sum(body.get("offset") is None for _, body in bot_api.polls) <= 1  # getMe once, not per poll


async def test_a_revoked_token_warns_every_few_minutes_and_shows_in_health(bot_api: FakeBotApi, store: Store,
                                                                             logs: list[str]) -> None:
    bot_api.revoked = True
    async with poller(bot_api, store, StubControls(), warn_every_s=1.0, backoff_base_s=0.05) as tc:
        await wait_for(lambda: tc.failures >= 3, 30, "a few refused calls")
        health = tc.health()
        assert health["ok"] is False and health["state"] == "failing"
        assert "HTTP 401 \"Unauthorized\"" in health["problem"] and "notify.telegram.bot_token" in health["problem"]
        await wait_for(lambda: sum("401" in line and "WARNING" in line for line in logs) >= 2, 30,
                       "the warning repeated once warn_every_s passed")
        bot_api.revoked = False
        assert (await reply_to(bot_api, "/status")) == "alice: idle"
        assert tc.health()["ok"] is True and tc.health()["state"] == "polling"
    warnings = [line for line in logs if "401" in line and "WARNING" in line]
    assert len(warnings) < tc.failures or tc.failures <= 2  # not one per failure: every warn_every_s


async def test_a_webhook_or_a_second_poller_is_a_409_with_the_fix(bot_api: FakeBotApi, store: Store,
                                                                  logs: list[str]) -> None:
    bot_api.webhook_url = "https://example.org/hook"
    async with poller(bot_api, store, StubControls()) as tc:
        await wait_for(lambda: tc.problem is not None and "409" in tc.problem, 30, "the conflict")
        assert "webhook is active" in str(tc.problem) and "deleteWebhook" in str(tc.problem)
        bot_api.webhook_url = ""
        assert (await reply_to(bot_api, "/status")) == "alice: idle"
        async with poller(bot_api, store, StubControls()) as second:  # another otobot with the same token
            await wait_for(lambda: "terminated by other getUpdates request" in str(tc.problem)
                           or "terminated by other getUpdates request" in str(second.problem), 30, "the 409")
    assert any("409" in line and "one bot token per daemon" in line for line in logs)


async def test_a_long_status_arrives_whole_in_messages_of_at_most_4096_characters(bot_api: FakeBotApi,
                                                                                   store: Store) -> None:
    class Many(StubControls):
        async def status(self) -> dict[str, Any]:
            return {"users": [{"user": f"user{i:02d}", "state": "paused", "token": "KOGE",
                               "volume_today": "12345.67", "target_volume": "100000", "pct_done": "12.3",
                               "cycles_today": 40, "paused": "auth_expired: log in again and import the cookies"}
                              for i in range(60)], "file_errors": {}}

    async with poller(bot_api, store, Many()):
        bot_api.push("/status")
        await wait_for(lambda: len(bot_api.replies()) >= 2, 15, "the status in parts")
        await asyncio.sleep(0.5)
    parts = bot_api.replies()
    assert all(len(p) <= 4096 for p in parts)
    lines = "\n".join(parts).splitlines()
    assert [line.split(":")[0] for line in lines] == [f"user{i:02d}" for i in range(60)]  # none cut, in order


async def test_a_reply_refused_by_telegram_is_an_error_with_its_description(bot_api: FakeBotApi, store: Store,
                                                                           logs: list[str]) -> None:
    async with poller(bot_api, store, StubControls()) as tc:
        bot_api.blocked_chats.add("777")
        assert await tc.send("777", Reply("hello")) is False
    assert any("ERROR" in line and "bot was blocked by the user" in line for line in logs)
    assert len(bot_api.refused) == 1  # a 403 is not retried


async def test_resume_answers_the_state_after_it_took_effect(bot_api: FakeBotApi, store: Store) -> None:
    class StillCatchingUp(StubControls):
        async def resume(self, user: str) -> dict[str, Any]:
            return {"user": user, "state": "paused", "paused": None}  # the pause lifted, the cycle not yet moved

    async with poller(bot_api, store, StillCatchingUp()):
        assert await reply_to(bot_api, "/resume ALICE") == "alice resumed: trading again"
