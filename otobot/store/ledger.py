"""The ledger's reads (issue 19): otobot's own base and the user's own per token, their volume, their live orders."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from otobot.store.records import Holding, OrderRow, dec0, order_row


class LedgerReads:
    """Mixed into Store: whose coins are whose, as SQLite holds them (written by fills.add_to_ledger)."""

    async def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError  # Store's

    async def holdings(self, user: str) -> list[Holding]:
        """otobot's own base per symbol (the ledger: its cycles' buys less base fees less their sells), with the
        last fill price. Never the user's own coins: those are `user_holdings`."""
        rows = await self._query("SELECT symbol, base_asset, own_base, last_price FROM ledger WHERE user=? "
                                 "ORDER BY symbol", (user,))
        return [Holding(r[0], r[1], dec0(r[2]), dec0(r[3])) for r in rows]

    async def user_holdings(self, user: str) -> list[Holding]:
        """The user's own base per symbol as otobot saw it trade (their hand orders' executions), never sold."""
        rows = await self._query("SELECT symbol, base_asset, user_base, last_price FROM ledger WHERE user=? "
                                 "ORDER BY symbol", (user,))
        return [Holding(r[0], r[1], dec0(r[2]), dec0(r[3])) for r in rows]

    async def own_base(self, user: str, symbol: str) -> Decimal:
        """otobot's own base of `symbol`: the most any SELL otobot places by itself may carry."""
        rows = await self._query("SELECT own_base FROM ledger WHERE user=? AND symbol=?", (user, symbol))
        return dec0(rows[0][0]) if rows else Decimal(0)

    async def user_volume(self, user: str, day: str | None = None) -> tuple[Decimal, Decimal]:
        """Quote the user's own orders bought and sold (one UTC day, or all days): shown, never otobot's cost."""
        sql = "SELECT user_buy_quote, user_sell_quote FROM daily_volume WHERE user=?"
        rows = await self._query(sql + (" AND day=?" if day else ""), (user, day) if day else (user,))
        return (sum((dec0(r[0]) for r in rows), Decimal(0)), sum((dec0(r[1]) for r in rows), Decimal(0)))

    async def live_strays(self, user: str, *, oto_only: bool = False) -> list[OrderRow]:
        """Orders otobot saw, did not place and recorded, not final yet (never touched; a restart knows them without
        waiting for their next event). `oto_only`: legs of OTOs (no OTO of otobot's is placed beside one)."""
        sql = ("SELECT o.* FROM orders o JOIN cycles c ON c.id=o.cycle_id WHERE o.user=? AND o.role='stray' AND "
               "o.status NOT IN ('FILLED', 'CANCELED', 'EXPIRED', 'REJECTED')")
        if oto_only:
            sql += " AND c.order_list_id IS NOT NULL AND c.order_list_id NOT IN ('', '-1')"
        return [order_row(r) for r in await self._query(sql + " ORDER BY o.id", (user,))]
