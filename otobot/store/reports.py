"""The reads behind status, stats, orders, history and the audit: one-shot commands run them while the daemon may be
down, the dashboard while it runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from otobot.store.records import CycleRow, OrderRow, UserStats, cycle_row, dec0, order_row


class ReportReads:
    """Mixed into Store: what people read, never written here."""

    async def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError  # Store's

    async def user_stats(self, user: str) -> UserStats:
        rows = await self._query("SELECT buy_quote, sell_quote, fees_quote, sell_fees_quote, cycles "
                                 "FROM daily_volume WHERE user=?", (user,))

        def total(i: int) -> Decimal:
            return sum((dec0(r[i]) for r in rows), Decimal(0))

        return UserStats(user=user, cycles=sum(int(r[4]) for r in rows), buy_quote=total(0), sell_quote=total(1),
                         fees_quote=total(2), sell_fees_quote=total(3))

    async def users(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._query("SELECT * FROM users ORDER BY name")]

    async def last_cycle(self, user: str) -> CycleRow | None:
        """The user's latest OTO cycle (sweeps and strays are not cycles of the strategy)."""
        rows = await self._query("SELECT * FROM cycles WHERE user=? AND kind='oto' ORDER BY id DESC LIMIT 1", (user,))
        return cycle_row(rows[0]) if rows else None

    async def orders_page(self, user: str, *, status: str | None = None, since_ms: int | None = None,
                          until_ms: int | None = None, limit: int = 50, offset: int = 0) -> list[OrderRow]:
        # Through the user's cycles, newest first, and each cycle's orders: an index on orders by user was ~40
        # bytes a cycle on disk for this command alone (issue 24). Every order belongs to a cycle of its user.
        sql = "SELECT o.* FROM cycles c JOIN orders o ON o.cycle_id=c.id WHERE c.user=?"
        params: list[Any] = [user]
        if status:
            sql += " AND o.status=?"
            params.append(status.upper())
        if since_ms is not None:
            sql += " AND o.intent_ms>=?"
            params.append(since_ms)
        if until_ms is not None:
            sql += " AND o.intent_ms<?"
            params.append(until_ms)
        sql += " ORDER BY c.id DESC, o.id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [order_row(r) for r in await self._query(sql, params)]

    async def recent_cycles(self, user: str, limit: int = 100) -> list[CycleRow]:
        """The user's newest cycles of every kind, newest first (issue 22: the dashboard's cycle list)."""
        rows = await self._query("SELECT * FROM cycles WHERE user=? ORDER BY id DESC LIMIT ?", (user, limit))
        return [cycle_row(r) for r in rows]

    async def orders_of_cycles(self, cycle_ids: Iterable[int]) -> list[OrderRow]:
        """Every order of these cycles in one query, oldest first (both legs and unwinds of a page of cycles)."""
        ids = list(cycle_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = await self._query(f"SELECT * FROM orders WHERE cycle_id IN ({marks}) ORDER BY id", ids)
        return [order_row(r) for r in rows]

    async def daily_totals(self, user: str, since_day: str) -> list[tuple[str, UserStats]]:
        """Each recorded UTC day from `since_day` on (oldest first), with that day's totals."""
        rows = await self._query("SELECT day, buy_quote, sell_quote, fees_quote, sell_fees_quote, cycles, "
                                 "user_buy_quote FROM daily_volume WHERE user=? AND day>=? ORDER BY day",
                                 (user, since_day))
        return [(r[0], UserStats(user=user, cycles=int(r[5]), buy_quote=dec0(r[1]), sell_quote=dec0(r[2]),
                                 fees_quote=dec0(r[3]), sell_fees_quote=dec0(r[4]), user_buy_quote=dec0(r[6])))
                for r in rows]

    async def audit_since(self, user: str, since_ms: int, kinds: Iterable[str]) -> list[dict[str, Any]]:
        """The user's audit rows of these kinds, oldest first; daemon-wide rows (user NULL) of them too."""
        wanted = list(kinds)
        marks = ",".join("?" * len(wanted))
        rows = await self._query(f"SELECT * FROM audit WHERE (user=? OR user IS NULL) AND ts_ms>=? "
                                 f"AND kind IN ({marks}) ORDER BY ts_ms, id", (user, since_ms, *wanted))
        return [dict(r) for r in rows]
