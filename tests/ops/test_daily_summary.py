"""The daily summary: due once per UTC day at the configured hour (fake clock), remembered across a restart in
SQLite, its figures from a real run on the simulator, and routed per user by the daemon process."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from otobot.sim.server import Simulator
from otobot.store.db import Store
from otobot.trading.daybook import utc_day, volume_points
from otobot.views.summary import SENT_KEY, DailySummary, covered_day, due_day, live_of
from tests.botapi import serve_bot_api
from tests.e2e.test_day_to_day import with_telegram
from tests.e2e.test_process import daemon, db_cycles
from tests.helpers import running, wait_for, write_config

H = 3_600_000
DAY0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("now_ms", "hour", "sent", "due"), [
    (DAY0 + 7 * H + 59 * 60_000, 8, None, None),  # a minute before the hour
    (DAY0 + 8 * H, 8, None, "2026-03-01"),  # at the hour
    (DAY0 + 8 * H, 8, "2026-03-01", None),  # already sent today (before a restart)
    (DAY0 + 23 * H, 8, "2026-02-28", "2026-03-01"),  # started late: sent once, late
    (DAY0, 0, "2026-02-28", "2026-03-01"),  # midnight
    (DAY0 + 24 * H + 1, 8, "2026-03-01", None),  # the next day, before its hour
])
def test_due_day(now_ms: int, hour: int, sent: str | None, due: str | None) -> None:
    assert due_day(now_ms, hour, sent) == due


def test_at_midnight_the_summary_tells_the_day_that_ended() -> None:
    assert covered_day("2026-03-01", 0) == "2026-02-28" and covered_day("2026-03-01", 8) == "2026-03-01"


async def test_fires_once_at_the_hour_and_not_again_after_a_restart(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 60}}})
    now = datetime.now(UTC)
    hour = max(1, now.hour)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    clock = [(midnight + timedelta(hours=hour, minutes=-1)).timestamp()]
    sent: list[tuple[str, str, str]] = []
    async with running(config) as d:
        settings = dataclasses.replace(d.settings, notify=dataclasses.replace(d.settings.notify,
                                                                              daily_summary_utc_hour=hour))
        bot = await d.bot("alice")
        await wait_for(lambda: bot.cycle.state == "finished", 60, "alice's target of 60")
        await d.supervisor.pause("alice", "operator")

        def summary() -> DailySummary:
            return DailySummary(d.store, lambda: settings, lambda *m: sent.append(m),
                                lambda user: live_of(d.supervisor.slots[user].bot), clock=lambda: clock[0])

        first = summary()
        assert await first.tick() is None and sent == []  # a minute early
        clock[0] += 120
        today = utc_day(int(clock[0] * 1000))
        assert await first.tick() == today
        assert await first.tick() is None
        assert await summary().tick() is None  # a restart the same day: remembered in SQLite
        assert await d.store.meta_value(SENT_KEY) == today
        assert [(kind, user) for kind, user, _ in sent] == [("daily_summary", "alice")]

        text = sent[0][2].splitlines()
        volume = (await d.store.day_volume("alice", today)).buy_quote
        cycles = (await d.store.day_volume("alice", today)).cycles
        assert text[0].startswith(f"{today} (UTC so far): volume {volume:.2f} USDT of 60.00 (")
        assert text[0].endswith(f"%, reached), {volume_points(volume, 1)} points, {cycles} cycles")
        assert text[1].startswith("fees ") and " bps" in text[1]
        assert "pauses: operator" in text
        reported = (await bot.rest.user_volume()).total
        assert text[-1] == f"exchange reports {reported:.2f} USDT today (ours {volume:.2f})"

        clock[0] += 86_400  # the next day at the same time: due again, for that day
        assert await summary().tick() == utc_day(int(clock[0] * 1000))
        assert len(sent) == 2


async def test_the_daemon_routes_each_users_summary_and_sends_it_once_across_restarts(
        sim: Simulator, tmp_path: Path) -> None:
    slow = {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}
    config = write_config(tmp_path, sim, {"alice": slow, "bob": slow})
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with serve_bot_api() as api:
        with_telegram(config, api.url, tmp_path)  # alice: her own webhook; bob: the global chat
        # daily_summary_utc_hour is 0 by default: due as soon as the daemon runs (the day that ended)
        for run in range(2):
            async with daemon(config, log) as proc:
                started = 2 * (run + 1)  # "Trading KOGE … on ALPHA_22USDT" per bot and run: signals handled by now
                await wait_for(lambda n=started: log.read_text().count(" on ALPHA_") >= n, 30, "both bots started")
                await wait_for(lambda: db_cycles(db, "bob"), 30, "bob trading")
                if run == 0:
                    await wait_for(lambda: any(r.startswith("otobot [bob] daily_summary:") for r in api.replies()),
                                   30, "bob's summary in the chat")
                    await wait_for(lambda: api.hooks.get("alice"), 30, "alice's summary on her webhook")
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 20) == 0
    summaries = [r for r in api.replies() if "daily_summary" in r]
    assert len(summaries) == 1 and not any(r.startswith("otobot [alice]") for r in api.replies())
    yesterday = utc_day(int(time.time() * 1000) - 86_400_000)
    assert summaries[0].startswith(f"otobot [bob] daily_summary: {yesterday} (UTC): volume 0.00 USDT of ")
    hooks = [h for h in api.hooks["alice"] if h["kind"] == "daily_summary"]
    assert len(hooks) == 1 and hooks[0]["user"] == "alice" and "pauses: none" in hooks[0]["text"]
    store = await Store.open(db)
    try:
        assert await store.meta_value(SENT_KEY) == utc_day(int(time.time() * 1000))
    finally:
        await store.close()
