"""Tokens and symbol filters a bot trades on: the store's cache first, the exchange when it is stale."""

from __future__ import annotations

from dataclasses import dataclass

from otobot.config.settings import UserConfig
from otobot.exchange.models import SymbolFilters, Token
from otobot.exchange.protocol import symbol_for
from otobot.exchange.rest import AlphaRest
from otobot.store.db import Store

TOKEN_CACHE_MAX_AGE_MS = 6 * 3600 * 1000  # mulPoint and flags change a few times a day at most
FILTER_CACHE_MAX_AGE_MS = 6 * 3600 * 1000


class CatalogProblem(Exception):
    """The configured token or quote cannot be traded: a config problem with a message for the operator."""


@dataclass(frozen=True, slots=True)
class Market:
    token: Token
    symbol: str
    filters: SymbolFilters


async def resolve(store: Store, rest: AlphaRest, cfg: UserConfig, now_ms: int, *, token_alias: str | None = None,
                  quote: str | None = None, require_tradable: bool = True) -> Market:
    """The market of `token_alias` against `quote` (default: the user's); raises CatalogProblem."""
    alias = token_alias or cfg.token
    quote = quote or cfg.quote
    cached = await store.token(alias)
    if cached is None or now_ms - cached[1] > TOKEN_CACHE_MAX_AGE_MS:
        await store.put_tokens(await rest.token_list(), now_ms)
        cached = await store.token(alias)
    if cached is None:
        raise CatalogProblem(f"token {alias!r} in {cfg.path} (key 'token') is not an Alpha token; run "
                             "`otobot tokens` to list them and use an alias like KOGE or an alphaId")
    token = cached[0]
    if require_tradable and not token.tradable:
        raise CatalogProblem(f"token {token.symbol} ({token.alpha_id}) is not tradable now (offline, sell-only or "
                             f"paused on the exchange); pick another in {cfg.path}")
    symbol = symbol_for(token.alpha_id, quote)
    filters = await store.symbol_filters(symbol)
    if filters is None or now_ms - filters[1] > FILTER_CACHE_MAX_AGE_MS:
        await store.put_symbols(await rest.exchange_info(), now_ms)
        filters = await store.symbol_filters(symbol)
    if filters is None:
        raise CatalogProblem(f"the exchange lists no symbol {symbol}: is {quote} a quote asset of "
                             f"{token.symbol}? (key 'quote' in {cfg.path})")
    return Market(token, symbol, filters[0])
