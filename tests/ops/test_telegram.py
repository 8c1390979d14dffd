"""Telegram commands against a local fake Bot API: allowed and other chats, bad updates, 429, hangs, restarts,
and a running daemon on the simulator that pauses and resumes on command while it keeps trading."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otobot.ops.telegram import OFFSET_KEY, BotApi, TelegramCommands
from otobot.ops.tgcommands import CommandAnswers
from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day
from tests.botapi import CHAT, TOKEN, FakeBotApi, serve_bot_api
from tests.helpers import Daemon, cycles_done, running, wait_for, write_config


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api() as fake:
        yield fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "otobot.db")
    yield s
    await s.close()


class StubControls:
    """A daemon's controls for the poller tests that are not about the daemon; `hang` holds every pause."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.hang = False

    async def status(self) -> dict[str, Any]:
        self.calls.append(("status",))
        return {"users": [{"user": "alice", "state": "idle", "paused": None}], "file_errors": {}}

    async def pause(self, user: str, reason: str = "operator") -> dict[str, Any]:
        self.calls.append(("pause", user))
        if self.hang:
            await asyncio.Event().wait()
        return {"user": user, "state": "paused"}

    async def resume(self, user: str) -> dict[str, Any]:
        self.calls.append(("resume", user))
        return {"user": user, "state": "idle"}


@contextlib.asynccontextmanager
async def poller(bot_api: FakeBotApi, store: Store, controls: Any, settings: Any = None,
                 **kw: Any) -> AsyncIterator[TelegramCommands]:
    async with aiohttp.ClientSession() as session:
        answers = CommandAnswers(controls, store, lambda: settings)
        opts: dict[str, Any] = {"poll_timeout_s": 1, "request_margin_s": 1.0, "backoff_base_s": 0.05,
                                "backoff_cap_s": 0.2, "command_timeout_s": 5.0, **kw}
        tc = TelegramCommands(BotApi(session, TOKEN, bot_api.url), store, frozenset({CHAT}), answers, **opts)
        await tc.start()
        try:
            yield tc
        finally:
            await tc.stop()


async def reply_to(bot_api: FakeBotApi, text: str, timeout: float = 15.0) -> str:
    """Send a command from the allowed chat and wait for the next reply to it."""
    before = len(bot_api.replies())
    bot_api.push(text)
    await wait_for(lambda: len(bot_api.replies()) > before, timeout, f"the reply to {text}")
    return bot_api.replies()[before]


# ------------------------------------------------------------ the poller alone


async def test_a_chat_not_allowed_is_ignored_and_logged_once(bot_api: FakeBotApi, store: Store,
                                                             logs: list[str]) -> None:
    controls = StubControls()
    async with poller(bot_api, store, controls):
        bot_api.push("/pause alice", chat=999)
        bot_api.push("/resume alice", chat=999)
        assert "otobot commands:" in await reply_to(bot_api, "/help")

    assert bot_api.replies("999") == []
    assert controls.calls == []
    ignored = [line for line in logs if "chat 999" in line]
    assert len(ignored) == 1 and "not in notify.telegram.allowed_chat_ids" in ignored[0]


async def test_malformed_updates_are_skipped_and_the_commands_after_them_run(bot_api: FakeBotApi, store: Store,
                                                                            logs: list[str]) -> None:
    async with poller(bot_api, store, StubControls()):
        bot_api.push_raw({"update_id": "x", "message": {"chat": {"id": 42}, "text": "/pause alice"}}, with_id=False)
        bot_api.push_raw({"message": "not a message"})
        bot_api.push_raw({"message": {"chat": {"id": 42}, "text": None}})
        bot_api.push_raw(["not", "an", "update"], with_id=False)
        last = bot_api.push_raw({"message": {"chat": {"id": 42}}})
        reply = await reply_to(bot_api, "/status")

    assert reply == "alice: idle"
    assert len(bot_api.replies()) == 1
    assert int(await store.meta_value(OFFSET_KEY) or 0) == last + 2  # the /status after them
    assert sum("skipped a malformed update" in line for line in logs) == 2


async def test_429_waits_the_retry_after_telegram_asks_for(bot_api: FakeBotApi, store: Store,
                                                           logs: list[str]) -> None:
    bot_api.script = [("429", 1.0)]
    async with poller(bot_api, store, StubControls()):
        assert await reply_to(bot_api, "/status") == "alice: idle"

    first, second = bot_api.polls[0][0], bot_api.polls[1][0]
    assert second - first >= 0.95  # our own backoff would have been 0.05 s
    assert any("too many requests" in line and "polling again in 1.0 s" in line for line in logs)


async def test_a_hanging_endpoint_times_out_and_the_poller_recovers(bot_api: FakeBotApi, store: Store,
                                                                    logs: list[str]) -> None:
    bot_api.script = [("hang", 60.0), ("hang", 60.0)]
    started = time.monotonic()
    async with poller(bot_api, store, StubControls(), poll_timeout_s=0, request_margin_s=0.3):
        assert await reply_to(bot_api, "/status") == "alice: idle"

    assert time.monotonic() - started < 10
    assert any("getUpdates got no answer within 0.3 s (failure 1 in a row)" in line for line in logs)
    assert any("reachable again after 2 failed poll(s)" in line for line in logs)


async def test_a_command_that_never_answers_is_cut_off_and_the_next_one_runs(bot_api: FakeBotApi,
                                                                            store: Store) -> None:
    controls = StubControls()
    controls.hang = True
    async with poller(bot_api, store, controls, command_timeout_s=0.3):
        assert await reply_to(bot_api, "/pause alice") == "/pause: no answer within 0.3 s; see /status"
        assert await reply_to(bot_api, "/status") == "alice: idle"


async def test_usage_and_unknown_commands_get_a_hint(bot_api: FakeBotApi, store: Store) -> None:
    controls = StubControls()
    async with poller(bot_api, store, controls):
        assert await reply_to(bot_api, "/pause") == "usage: /pause USER"
        assert await reply_to(bot_api, "/history alice 99") == "DAYS is a number from 1 to 31, e.g. /history alice 14"
        assert await reply_to(bot_api, "/sell everything") == "unknown command /sell; /help lists them"

    assert controls.calls == []


async def test_the_offset_survives_a_restart_so_old_commands_never_run_again(bot_api: FakeBotApi,
                                                                             store: Store) -> None:
    controls = StubControls()
    async with poller(bot_api, store, controls):
        await reply_to(bot_api, "/pause alice")
    # The fake keeps served updates, as Telegram does until an offset confirms them: only our offset skips them.
    polls_before = len(bot_api.polls)

    async with poller(bot_api, store, controls):
        assert await reply_to(bot_api, "/resume alice") == "alice resumed. State: idle"

    assert controls.calls == [("pause", "alice"), ("resume", "alice")]
    assert bot_api.polls[polls_before][1]["offset"] == int(await store.meta_value(OFFSET_KEY) or 0) - 1


# ------------------------------------------------------------ a running daemon on the simulator


def two_traders(tmp_path: Path, sim: Simulator) -> Path:
    slow = {"target": {"value": 10**6}, "pause_between_cycles_s": 0.1}
    return write_config(tmp_path, sim, {"alice": slow, "bob": slow})


async def more_cycles(d: Daemon, user: str, than: int) -> bool:
    return await cycles_done(d.store, user) > than


async def test_commands_from_the_allowed_chat_pause_and_resume_a_running_daemon(
        sim: Simulator, tmp_path: Path, bot_api: FakeBotApi) -> None:
    async with running(two_traders(tmp_path, sim)) as d:
        for user in ("alice", "bob"):
            await wait_for(lambda u=user: more_cycles(d, u, 0), 30, f"{user} trading")  # type: ignore[misc]
        async with poller(bot_api, d.store, d.supervisor, d.settings):
            status = await reply_to(bot_api, "/status")
            assert status.startswith("alice: ") and "\nbob: " in status and "KOGE" in status

            assert (await reply_to(bot_api, "/pause alice")).startswith("alice paused (operator)")
            assert (await d.bot("alice")).paused_reason == "operator"
            assert await d.store.pause_reason("alice") == "operator"
            await wait_for(lambda: _no_live_cycle(d, "alice"), 30, "alice's cycle under way to finish")
            alice_paused_at = await cycles_done(d.store, "alice")
            bob_then = await cycles_done(d.store, "bob")
            await wait_for(lambda: more_cycles(d, "bob", bob_then + 1), 30, "bob trading on")
            assert await cycles_done(d.store, "alice") == alice_paused_at
            assert "paused: operator" in (await reply_to(bot_api, "/status alice"))

            assert (await reply_to(bot_api, "/resume alice")).startswith("alice resumed")
            assert (await d.bot("alice")).paused_reason is None
            await wait_for(lambda: more_cycles(d, "alice", alice_paused_at), 30, "alice trading again")

            daily = await reply_to(bot_api, "/daily")
            assert daily.splitlines()[0] == f"{utc_day(int(time.time() * 1000))} (UTC, so far)"
            assert any(line.startswith("alice: volume ") and "/1000000.00" in line for line in daily.splitlines())

            chart = await reply_to(bot_api, "/history alice 3")
            assert chart.startswith("<pre>alice: buy volume per UTC day (USDT)") and "▼ target" in chart
            assert bot_api.sent[-1]["parse_mode"] == "HTML"
            assert (await reply_to(bot_api, "/pause nobody")).startswith("/pause failed: no running bot for user")
            assert await d.store.pause_reason("alice") is None


async def _no_live_cycle(d: Daemon, user: str) -> bool:
    return await d.store.live_cycle(user) is None


async def test_a_telegram_outage_only_delays_replies_while_the_daemon_trades_on(
        sim: Simulator, tmp_path: Path, bot_api: FakeBotApi) -> None:
    async with running(two_traders(tmp_path, sim)) as d:
        await wait_for(lambda: more_cycles(d, "alice", 0), 30, "alice trading")
        bot_api.script = [("hang", 60.0)] * 1000  # Telegram hangs until the test ends the outage
        async with poller(bot_api, d.store, d.supervisor, d.settings, poll_timeout_s=0, request_margin_s=0.5):
            bot_api.push("/pause alice")
            before = await cycles_done(d.store, "alice")
            await wait_for(lambda: more_cycles(d, "alice", before + 1), 30, "alice trading while Telegram hangs")
            await wait_for(lambda: len(bot_api.polls) >= 3, 30, "the poller timing out and polling again")
            assert bot_api.replies() == [] and (await d.bot("alice")).paused_reason is None
            bot_api.script = []  # Telegram is back
            await wait_for(lambda: bot_api.replies(), 30, "the delayed reply")
            assert bot_api.replies()[0].startswith("alice paused (operator)")
        assert (await d.bot("alice")).paused_reason == "operator"
