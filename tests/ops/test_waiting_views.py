"""A bot's waiting reason (the live row's {"reason", "text", "since_ms"}) as every view shows it: the status table
and --json, Telegram /status, the daily summary, and one notification for a long wait."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otobot.ops.longwait import LongWaits
from otobot.ops.tgcommands import status_text
from otobot.views import history
from otobot.views.reports import waiting_text
from otobot.views.summary import Figures, user_text

SINCE_MS = int(datetime(2026, 12, 6, 12, 1, tzinfo=UTC).timestamp() * 1000)
VOLATILITY = {"reason": "volatility", "text": "volatility 4.2 % > 3 % in 60 s", "since_ms": SINCE_MS}


def test_the_waiting_reason_reads_with_its_start_time() -> None:
    assert waiting_text(VOLATILITY) == "volatility 4.2 % > 3 % in 60 s since 12:01"
    assert waiting_text({"reason": "stale_price", "text": None, "since_ms": None}) == "stale_price"
    assert waiting_text(None) is None and waiting_text({}) is None


def test_telegram_status_shows_the_wait_on_the_users_line_and_in_detail() -> None:
    status = {"users": [{"user": "alice", "state": "idle", "paused": None, "waiting": VOLATILITY},
                        {"user": "bob", "state": "buying", "paused": None, "waiting": None}]}
    assert status_text(status).splitlines() == [
        "alice: idle · waiting: volatility 4.2 % > 3 % in 60 s since 12:01", "bob: buying"]
    assert "waiting: volatility 4.2 % > 3 % in 60 s since 12:01" in status_text(status, "alice").splitlines()


def test_the_daily_summary_says_what_the_bot_waits_for() -> None:
    row = history.DayRow(day="2026-12-06", volume=Decimal(100), points=1, target=Decimal(1000),
                         cycles=4, fees=Decimal("0.1"), cost_bps=Decimal("1.5"), pauses=0)
    f = Figures("alice", "USDT", row, (), (), None, waiting_text(VOLATILITY))
    assert "waiting: volatility 4.2 % > 3 % in 60 s since 12:01" in user_text(f, "2026-12-06", "2026-12-07")
    assert "waiting" not in user_text(Figures("alice", "USDT", row, (), (), None), "2026-12-06", "2026-12-07")


async def test_a_long_wait_is_notified_once_and_a_new_wait_again() -> None:
    rows: list[dict[str, Any]] = [{"user": "alice", "waiting": VOLATILITY}, {"user": "bob", "waiting": None}]
    sent: list[tuple[str, str, str]] = []
    now = [SINCE_MS / 1000 + 60]

    async def status() -> dict[str, Any]:
        return {"users": rows}

    waits = LongWaits(status, lambda *a: sent.append(a), lambda: 900.0, clock=lambda: now[0])
    assert await waits.tick() == []  # a minute: the strategy working
    now[0] = SINCE_MS / 1000 + 901
    assert await waits.tick() == ["alice"]
    assert await waits.tick() == []  # once per wait
    assert sent == [("waiting", "alice", "alice has traded nothing for 15 min, waiting: volatility 4.2 % > 3 % "
                                         "in 60 s since 12:01")]
    rows[0] = {"user": "alice", "waiting": None}
    await waits.tick()
    rows[0] = {"user": "alice", "waiting": {**VOLATILITY, "since_ms": SINCE_MS + 1}}
    now[0] += 2000
    assert await waits.tick() == ["alice"]  # a new wait
