"""The daily summary: per user, once per UTC day at notify.daily_summary_utc_hour (remembered in SQLite)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from loguru import logger

from otobot.config.settings import GlobalConfig, scan_users
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.trading import daybook as points
from otobot.views import history
from otobot.views.reports import q2

if TYPE_CHECKING:
    from otobot.trading.bot import Bot

SENT_KEY = "daily_summary_day"  # meta: the UTC day whose summary went out (a restart the same day sends none)
CHECK_EVERY_S = 30.0
EXCHANGE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Live:
    """What only the running bot knows: the market price and the exchange's own volume figure."""

    price: Callable[[str], Decimal | None]  # symbol → last trade price
    exchange_volume: Callable[[], Awaitable[Decimal | None]]  # today's total from the user-volume endpoint


@dataclass(frozen=True, slots=True)
class Figures:
    user: str
    quote: str
    row: history.DayRow
    pauses: tuple[str, ...]  # reasons, in order
    inventory: tuple[tuple[str, Decimal, Decimal | None], ...]  # (base asset, quantity, value at market)
    exchange_volume: Decimal | None  # None: not asked (another day, bot not running) or no answer


def live_of(bot: Bot | None) -> Live | None:
    """A running bot's view for the summary (None when the user's bot is not running)."""
    if bot is None:
        return None

    def price(symbol: str) -> Decimal | None:
        return bot.last_trade.price if bot.last_trade is not None and bot.symbol == symbol else None

    async def exchange_volume() -> Decimal | None:
        return (await bot.rest.user_volume()).total if bot.rest is not None else None
    return Live(price, exchange_volume)


def due_day(now_ms: int, hour: int, sent: str | None) -> str | None:
    """The UTC day whose summary is due now: today once the hour has come, unless already sent. Pure."""
    today = points.utc_day(now_ms)
    if (now_ms // 3_600_000) % 24 < hour or sent == today:
        return None
    return today


def covered_day(today: str, hour: int) -> str:
    """At 00 UTC the summary tells the day that just ended; at any later hour the day so far."""
    return (date.fromisoformat(today) - timedelta(days=1)).isoformat() if hour == 0 else today


def user_text(f: Figures, day: str, today: str) -> str:
    """One user's summary as a few lines (Telegram or a webhook's `text`). Pure."""
    r = f.row
    goal = f" of {q2(r.target)} ({r.volume / r.target * 100:.0f}%{', reached' if r.reached else ''})" \
        if r.target else ""
    so_far = " so far" if day == today else ""
    lines = [f"{day} (UTC{so_far}): volume {q2(r.volume)} {f.quote}{goal}, {r.points} points, {r.cycles} cycles",
             f"fees {q2(r.fees)} {f.quote}, cost " + (f"{r.cost_bps:.1f} bps" if r.cost_bps is not None else "-")
             + (" (unsold base counted as cost until sold)" if f.inventory else "")]
    for asset, qty, value in f.inventory:
        worth = f" ≈ {q2(value)} {f.quote} at market" if value is not None else " (no market price)"
        lines.append(f"unsold inventory: {fmt(qty)} {asset}{worth}")
    lines.append("pauses: " + ("; ".join(f.pauses) if f.pauses else "none"))
    if day == today:
        lines.append(f"exchange reports {q2(f.exchange_volume)} {f.quote} today (ours {q2(r.volume)})"
                     if f.exchange_volume is not None else "exchange volume: not available")
    return "\n".join(lines)


class DailySummary:
    """Checks every 30 s whether the summary is due; sends each user's through `notify` (routed per user)."""

    def __init__(self, store: Store, settings: Callable[[], GlobalConfig], notify: Callable[[str, str, str], None],
                 live: Callable[[str], Live | None], *, clock: Callable[[], float] = time.time) -> None:
        self.store, self.settings, self.notify, self.live, self.clock = store, settings, notify, live, clock

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a summary is never worth stopping the daemon for
                logger.warning("Daily summary failed ({}); trying again in {:.0f} s", exc, CHECK_EVERY_S)
            await asyncio.sleep(CHECK_EVERY_S)

    async def tick(self) -> str | None:
        """Send the summary if it is due; the day sent, or None."""
        settings = self.settings()
        hour = settings.notify.daily_summary_utc_hour
        now_ms = int(self.clock() * 1000)
        today = due_day(now_ms, hour, await self.store.meta_value(SENT_KEY))
        if today is None:
            return None
        # Remembered first: a crash while sending loses one summary rather than sending it twice.
        await self.store.set_meta_value(SENT_KEY, today)
        day = covered_day(today, hour)
        for f in await self.figures(settings, day, today):
            self.notify("daily_summary", f.user, user_text(f, day, today))
        logger.info("Daily summary for {} sent", day)
        return today

    async def figures(self, settings: GlobalConfig, day: str, today: str) -> list[Figures]:
        since_ms = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1000
        out = []
        users = {name: cfg.quote for name, cfg in scan_users(settings.users_dir).users.items()}
        for name, row in await history.today_rows(settings, self.store, day):
            live = self.live(name)
            pauses = tuple(str(a["reason"]) for a in await self.store.audit_since(name, since_ms, ("pause",))
                           if a["user"] == name and points.utc_day(int(a["ts_ms"])) == day)
            inventory = tuple((h.base_asset, h.quantity, _value(h.quantity, live.price(h.symbol) if live else None))
                              for h in await self.store.holdings(name) if h.quantity > 0)
            exchange = await _exchange_volume(live) if live is not None and day == today else None
            out.append(Figures(name, users.get(name, "USDT"), row, pauses, inventory, exchange))
        return out


def _value(qty: Decimal, price: Decimal | None) -> Decimal | None:
    return qty * price if price is not None else None


async def _exchange_volume(live: Live) -> Decimal | None:
    try:
        async with asyncio.timeout(EXCHANGE_TIMEOUT_S):
            return await live.exchange_volume()
    except Exception as exc:  # the exchange's figure is a comparison, not a reason to skip the summary
        logger.info("No user-volume figure for the daily summary ({})", exc)
        return None

