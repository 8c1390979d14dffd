"""The token list and symbol filters as last read from the exchange: one place for a symbol's filters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from otobot.exchange.filters import fmt
from otobot.exchange.models import SymbolFilters, Token
from otobot.store.carry import Statement


class CatalogCache:
    """Mixed into Store: the exchange's token and symbol catalogue, cached with the time it was read."""

    async def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError  # Store's

    async def _tx(self, statements: list[Statement], *, now: bool = False, carry: Any = None) -> Any:
        raise NotImplementedError  # Store's

    async def put_tokens(self, tokens: Iterable[Token], now_ms: int) -> None:
        stmts = [(
            "INSERT INTO tokens(alpha_id, symbol, name, mul_point, tradable, raw, updated_ms) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(alpha_id) DO UPDATE SET symbol=excluded.symbol, name=excluded.name, "
            "mul_point=excluded.mul_point, tradable=excluded.tradable, raw=excluded.raw, "
            "updated_ms=excluded.updated_ms",
            (t.alpha_id, t.symbol, t.name, t.mul_point, int(t.tradable), json.dumps(_token_json(t)), now_ms))
            for t in tokens]
        if stmts:
            await self._tx(stmts)

    async def token(self, alias: str) -> tuple[Token, int] | None:
        """A token by alphaId or display symbol (case-insensitive), with its cache time."""
        rows = await self._query(
            "SELECT raw, updated_ms FROM tokens WHERE upper(alpha_id)=upper(?) OR upper(symbol)=upper(?) "
            "ORDER BY (upper(alpha_id)=upper(?)) DESC, tradable DESC LIMIT 1", (alias, alias, alias))
        if not rows:
            return None
        return Token(**json.loads(rows[0][0])), int(rows[0][1])

    async def tokens(self) -> list[tuple[Token, int]]:
        rows = await self._query("SELECT raw, updated_ms FROM tokens ORDER BY symbol")
        return [(Token(**json.loads(r[0])), int(r[1])) for r in rows]

    async def put_symbols(self, symbols: Iterable[SymbolFilters], now_ms: int) -> None:
        stmts = [(
            "INSERT INTO symbols(symbol, filters, updated_ms) VALUES (?,?,?) ON CONFLICT(symbol) DO UPDATE SET "
            "filters=excluded.filters, updated_ms=excluded.updated_ms",
            (s.symbol, json.dumps(_filters_json(s)), now_ms)) for s in symbols]
        if stmts:
            await self._tx(stmts)

    async def symbol_filters(self, symbol: str) -> tuple[SymbolFilters, int] | None:
        rows = await self._query("SELECT filters, updated_ms FROM symbols WHERE symbol=?", (symbol,))
        if not rows:
            return None
        raw: dict[str, Any] = json.loads(rows[0][0])
        fields: dict[str, Any] = {k: Decimal(v) if k in _DECIMAL_FILTER_FIELDS else v for k, v in raw.items()}
        return SymbolFilters(**fields), int(rows[0][1])


_DECIMAL_FILTER_FIELDS = frozenset({"tick_size", "step_size", "min_qty", "max_qty", "min_price", "max_price",
                                    "min_notional"})


def _filters_json(s: SymbolFilters) -> dict[str, str]:
    return {k: fmt(getattr(s, k)) if k in _DECIMAL_FILTER_FIELDS else getattr(s, k) for k in s.__slots__}


def _token_json(t: Token) -> dict[str, Any]:
    return {k: getattr(t, k) for k in t.__slots__}
