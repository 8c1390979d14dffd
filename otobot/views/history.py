"""A user's figures per UTC day from SQLite (volume, points, target, cycles, fees, cost, pauses) for history/daily."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from otobot.config.settings import ConfigError, GlobalConfig, UserConfig, scan_users
from otobot.exchange.filters import fmt
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseUnreadable
from otobot.store.opening import open_for_reading
from otobot.store.records import UserStats
from otobot.trading import daybook as points
from otobot.views.chart import volume_chart
from otobot.views.reports import q2, table


@dataclass(frozen=True, slots=True)
class Target:
    """A user's daily goal as configured today (the database keeps no past targets)."""

    kind: str  # volume | points
    value: Decimal
    mul_point: int
    quote: str = "USDT"

    @property
    def volume(self) -> Decimal:
        return points.target_volume(self.kind, self.value, self.mul_point)


@dataclass(frozen=True, slots=True)
class DayRow:
    day: str
    volume: Decimal  # buy volume in quote: what Alpha counts
    points: int
    target: Decimal | None  # the buy volume the target needs; None when the user has no file any more
    cycles: int
    fees: Decimal  # in quote
    cost_bps: Decimal | None  # (bought - sold + sell fees) / bought; unsold base counts as cost until sold
    pauses: int

    @property
    def reached(self) -> bool | None:
        return None if self.target is None else self.volume >= self.target


def day_range(today: str, days: int) -> list[str]:
    """The `days` UTC days ending with `today`, oldest first."""
    end = date.fromisoformat(today)
    return [(end - timedelta(days=i)).isoformat() for i in range(max(days, 1) - 1, -1, -1)]


def build_rows(days: Sequence[str], totals: Mapping[str, UserStats], pauses: Mapping[str, int],
               target: Target | None) -> list[DayRow]:
    """One row per day, zeros for a day without trading (so a gap shows as a gap)."""
    rows = []
    mul = target.mul_point if target is not None else 1
    for day in days:
        s = totals.get(day)
        volume = s.buy_quote if s else Decimal(0)
        rows.append(DayRow(
            day=day, volume=volume, points=points.volume_points(volume, mul),
            target=target.volume if target is not None else None, cycles=s.cycles if s else 0,
            fees=s.fees_quote if s else Decimal(0), cost_bps=s.loss_bps if s and s.buy_quote else None,
            pauses=pauses.get(day, 0)))
    return rows


async def user_target(settings: GlobalConfig, store: Store, user: str,
                      users: Mapping[str, UserConfig] | None = None) -> Target | None:
    """The user's target from their file (None without one); `users`: an already scanned users directory."""
    cfg = (users if users is not None else scan_users(settings.users_dir).users).get(user)
    if cfg is None:
        return None
    tok = await store.token(cfg.token)
    return Target(cfg.target.kind, cfg.target.value, tok[0].mul_point if tok else 1, cfg.quote)


async def history(store: Store, user: str, target: Target | None, today: str, days: int) -> list[DayRow]:
    span = day_range(today, days)
    totals = dict(await store.daily_totals(user, span[0]))
    since_ms = int(datetime.fromisoformat(span[0]).replace(tzinfo=UTC).timestamp()) * 1000
    pauses: dict[str, int] = {}
    for row in await store.audit_since(user, since_ms, ("pause",)):
        if row["user"] == user:
            day = points.utc_day(int(row["ts_ms"]))
            pauses[day] = pauses.get(day, 0) + 1
    return build_rows(span, totals, pauses, target)


async def today_rows(settings: GlobalConfig, store: Store, today: str) -> list[tuple[str, DayRow]]:
    """Every user with a file or a database row, and their figures for `today`."""
    users = scan_users(settings.users_dir).users
    out = []
    for name in sorted(set(users) | {u["name"] for u in await store.users()}):
        [row] = await history(store, name, await user_target(settings, store, name, users), today, 1)
        out.append((name, row))
    return out


def daily_text(day: str, rows: Sequence[tuple[str, DayRow]]) -> str:
    """The day's figures per user as short lines (Telegram's /daily; the daily summary reuses it)."""
    lines = [f"{day} (UTC, so far)"]
    for name, r in rows:
        goal = f"/{q2(r.target)} ({r.volume / r.target * 100:.0f}%{', reached' if r.reached else ''})" \
            if r.target else ""
        cost = f", cost {r.cost_bps:.1f} bps" if r.cost_bps is not None else ""
        pauses = f", {r.pauses} pause(s)" if r.pauses else ""
        lines.append(f"{name}: volume {q2(r.volume)}{goal}, {r.points} pts, {r.cycles} cycles, "
                     f"fees {q2(r.fees)}{cost}{pauses}")
    if not rows:
        lines.append("no users")
    return "\n".join(lines)


def table_rows(rows: Sequence[DayRow]) -> list[dict[str, Any]]:
    return [{"day": r.day, "volume": q2(r.volume), "points": r.points,
             "target": q2(r.target) if r.target is not None else None,
             "reached": None if r.reached is None else ("yes" if r.reached else "no"), "cycles": r.cycles,
             "fees": fmt(r.fees.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
             "cost_bps": f"{r.cost_bps:.1f}" if r.cost_bps is not None else None, "pauses": r.pauses}
            for r in rows]


def json_doc(user: str, target: Target | None, rows: Sequence[DayRow]) -> dict[str, Any]:
    """Exact figures as strings (Decimal never goes through float)."""
    return {
        "user": user, "quote": target.quote if target else None,
        "target": {"kind": target.kind, "value": fmt(target.value), "volume": fmt(target.volume),
                   "mul_point": target.mul_point} if target else None,
        "days": [{"day": r.day, "volume": fmt(r.volume), "points": r.points,
                  "target": fmt(r.target) if r.target is not None else None, "reached": r.reached,
                  "cycles": r.cycles, "fees": fmt(r.fees),
                  "cost_bps": fmt(r.cost_bps.quantize(Decimal("0.01"))) if r.cost_bps is not None else None,
                  "pauses": r.pauses} for r in rows],
    }


def chart_lines(rows: Sequence[DayRow], width: int = 40) -> list[str]:
    target = next((r.target for r in rows if r.target is not None), Decimal(0))
    return volume_chart([(r.day[5:], r.volume) for r in rows], target, width=width)


async def run_history(args: argparse.Namespace) -> int:
    """`otobot history USER [--days N] [--json]`: reads SQLite only, so it works with the daemon down."""
    if not 1 <= args.days <= 3660:
        sys.stderr.write(f"--days {args.days}: give a number of days from 1 to 3660\n")
        return 2
    try:
        settings, store = await open_for_reading(Path(args.config))
    except (ConfigError, DatabaseUnreadable) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    try:
        target = await user_target(settings, store, args.user)
        if target is None and args.user not in {u["name"] for u in await store.users()}:
            sys.stderr.write(f"no user {args.user!r}: no {args.user}.yaml in {settings.users_dir} and nothing "
                             f"recorded for it in {settings.database}\n")
            return 1
        rows = await history(store, args.user, target, points.utc_day(int(time.time() * 1000)), args.days)
    finally:
        await store.close()
    if args.json:
        sys.stdout.write(json.dumps(json_doc(args.user, target, rows), indent=2) + "\n")
        return 0
    cols = ["day", "volume", "points", "target", "reached", "cycles", "fees", "cost_bps", "pauses"]
    unit = target.quote if target else "quote"
    sys.stdout.write(f"{args.user}: buy volume per UTC day in {unit}" +
                     (f", target {target.kind} {fmt(target.value)}" if target else ", no user file: no target") +
                     "\n" + table(table_rows(rows), cols) + "\n\n" + "\n".join(chart_lines(rows)) + "\n")
    return 0
