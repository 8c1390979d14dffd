"""`otobot price TOKEN` (public ticker) and `otobot orders USER --cycle N` (one OTO with its orders and fills)."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp

from otobot.config.settings import GlobalConfig
from otobot.exchange.errors import ExchangeError
from otobot.exchange.filters import fmt
from otobot.exchange.rest import AlphaRest
from otobot.exchange.ticker import Ticker24h
from otobot.store.db import Store
from otobot.views import reports

_PAIR = re.compile(r"(ALPHA_\d+)(USDT|USDC)", re.IGNORECASE)


class LookupProblem(Exception):
    """Something the operator can fix: one paragraph on stderr, exit 1."""


async def resolve_symbol(store: Store, rest: AlphaRest, token: str, quote: str) -> tuple[str, str]:
    """KOGE, ALPHA_22 or ALPHA_22USDT → (display name, pair); the token list is fetched once when not cached."""
    pair = _PAIR.fullmatch(token)
    if pair:
        cached = await store.token(pair.group(1))
        return (cached[0].symbol if cached else pair.group(1).upper()), token.upper()
    found = await store.token(token)
    if found is None:
        await store.put_tokens(await rest.token_list(), int(time.time() * 1000))
        found = await store.token(token)
    if found is None:
        raise LookupProblem(f"no Alpha token {token!r} in the token list; `otobot tokens` lists them (give the "
                            "display symbol like KOGE, the alphaId like ALPHA_22, or a pair like ALPHA_22USDT)")
    return found[0].symbol, f"{found[0].alpha_id}{quote}"


async def price_doc(settings: GlobalConfig, store: Store, token: str, quote: str) -> dict[str, Any]:
    """The last price and the 24 h range of TOKEN from the public endpoints (no session needed)."""
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, settings.exchange.rest_url, None)
        try:
            name, symbol = await resolve_symbol(store, rest, token, quote)
            t = await rest.ticker(symbol)
        except ExchangeError as exc:
            raise LookupProblem(f"{token}: the exchange did not answer the ticker request: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LookupProblem(f"cannot reach {settings.exchange.rest_url} ({exc or 'timed out'})") from None
    return ticker_doc(name, t)


def ticker_doc(name: str, t: Ticker24h) -> dict[str, Any]:
    span = (t.high - t.low) / t.low * 100 if t.low else None
    return {"token": name, "symbol": t.symbol, "last": fmt(t.last), "low_24h": fmt(t.low), "high_24h": fmt(t.high),
            "range_pct": f"{span:.2f}" if span is not None else None, "open_24h": fmt(t.open),
            "volume_24h": fmt(t.base_volume), "quote_volume_24h": fmt(t.quote_volume), "trades_24h": t.trades,
            "time": reports.utc_text(t.close_ms) if t.close_ms else None}


def price_text(d: dict[str, Any]) -> str:
    quote = d["symbol"][-4:]
    return (f"{d['token']} ({d['symbol']}): last {d['last']} {quote}\n"
            f"24 h: low {d['low_24h']}, high {d['high_24h']} (range {d['range_pct'] or '-'} %), "
            f"volume {d['quote_volume_24h']} {quote} in {d['trades_24h']} trades")


def cycle_text(d: dict[str, Any]) -> str:
    """`orders USER --cycle N`: the cycle's sums in a line, then its orders and its fills as tables."""
    c = d["cycle"]
    head = (f"cycle {c['cycle']} ({c['kind']}, {c['state']}) on {c['symbol']}, placed {c['time']} UTC"
            + (f", closed {c['closed']}" if c["closed"] else "") + (f": {c['reason']}" if c["reason"] else ""))
    sums = (f"BUY {c['qty']} at {c['buy_price']}, SELL at {c['sell_price']}; bought {c['bought']} for "
            f"{c['buy_quote']}, sold {c['sold']} for {c['sell_quote']}; fees {c['fees']} (in quote), "
            f"cost {c['cost']} = {c['cost_bps'] or '-'} bps")
    orders = reports.table(d["orders"], ["role", "order_id", "side", "price", "qty", "filled", "quote", "fee",
                                         "fee_asset", "status"])
    fills = reports.table(d["fills"], ["time", "order_id", "side", "price", "qty", "quote", "fee", "fee_asset",
                                       "source"]) if d["fills"] else "no fills recorded"
    return f"{head}\n{sums}\n\norders:\n{orders}\n\nfills:\n{fills}"
