"""What each candidate token would cost to reach a target, from the public book (`otobot plan`, `token: auto`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import aiohttp

from otobot.exchange import protocol as p
from otobot.exchange.book import DepthSnapshot
from otobot.exchange.errors import ExchangeError, MalformedMessage
from otobot.exchange.filters import FEE_RATE
from otobot.exchange.models import SymbolFilters, Token
from otobot.exchange.rest import AlphaRest
from otobot.trading.planner import Candidate, CycleCost, Target, choose, cycle_cost, plan_token

AUTO = "auto"
DEPTH_LIMIT = 500  # levels per side fetched: far beyond any order size otobot places
PARALLEL_DEPTH_REQUESTS = 4  # public endpoint, but one plan should not hammer it
DEFAULT_PAUSE_S = Decimal("1")


class PlanError(Exception):
    """Bad input or an unusable answer: one paragraph for the operator, exit code 2 (input) or 1 (exchange)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class PlanInput:
    user: str | None
    tokens: tuple[str, ...]  # aliases or alphaIds; (AUTO,) = every tradable token
    quote: str
    target: Target
    quote_amount: Decimal
    pause_s: Decimal
    requests_per_second: Decimal
    reserve: Decimal
    rest_url: str


@dataclass(frozen=True, slots=True)
class Market:
    token: Token
    filters: SymbolFilters
    depth: DepthSnapshot


def pick_tokens(wanted: tuple[str, ...], tokens: list[Token]) -> list[Token]:
    """Named tokens (alias or alphaId, any case) in the order given, or every tradable one for `auto`."""
    if any(w.lower() == AUTO for w in wanted):
        return sorted((t for t in tokens if t.tradable), key=lambda t: t.symbol)
    out = []
    for w in wanted:
        match = next((t for t in tokens if w.upper() in (t.symbol.upper(), t.alpha_id.upper())), None)
        if match is None:
            known = ", ".join(sorted(t.symbol for t in tokens if t.tradable)[:20])
            raise PlanError(f"token {w!r} is not on the Alpha token list; tradable tokens include: {known}")
        if not match.tradable:
            raise PlanError(f"token {w!r} ({match.alpha_id}) is not tradable now (offline, sell-only or paused)")
        out.append(match)
    return out


async def fetch(rest: AlphaRest, inp: PlanInput) -> list[Market]:
    """Token list, exchange info, then each candidate's fullDepth over the public REST API (no session)."""
    tokens = pick_tokens(inp.tokens, await rest.token_list())
    symbols = {f.symbol: f for f in await rest.exchange_info()}
    gate = asyncio.Semaphore(PARALLEL_DEPTH_REQUESTS)

    async def one(token: Token) -> Market | None:
        f = symbols.get(p.symbol_for(token.alpha_id, inp.quote))
        if f is None or not f.trading:
            return None
        async with gate:
            return Market(token, f, await rest.full_depth(f.symbol, DEPTH_LIMIT))

    found = await asyncio.gather(*(one(t) for t in tokens))
    return [m for m in found if m is not None]


def plan(inp: PlanInput, markets: list[Market]) -> tuple[list[Candidate], Candidate | None]:
    """Pure: every candidate's cost to reach the target, cheapest usable first, and the choice."""
    out = []
    for m in markets:
        cycle: CycleCost = cycle_cost(m.depth.bids, m.depth.asks, inp.quote_amount, m.filters.step_size, FEE_RATE)
        out.append(plan_token(m.token.symbol, m.token.mul_point, cycle, inp.target, inp.quote_amount, inp.pause_s,
                              inp.requests_per_second, inp.reserve))
    out.sort(key=lambda c: (not c.usable, c.cost_quote, c.token))
    return out, choose(out)


async def run(inp: PlanInput) -> tuple[list[Candidate], Candidate | None]:
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, inp.rest_url, None, retries=2)
        try:
            markets = await fetch(rest, inp)
        except (ExchangeError, MalformedMessage) as exc:
            raise PlanError(f"could not read the public market data from {inp.rest_url}: {exc}. Check the URL "
                            "(--rest-url or exchange.rest_url) and the network, then try again.", code=1) from None
    if not markets:
        raise PlanError(f"none of {', '.join(inp.tokens)} trades against {inp.quote} on {inp.rest_url}", code=1)
    return plan(inp, markets)
