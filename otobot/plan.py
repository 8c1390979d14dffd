"""`otobot plan`: before any order, what each candidate token would cost to reach a target, from the public book."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import aiohttp

from otobot.trading import daybook as points
from otobot.config.settings import ConfigError, ReliabilityConfig, UserConfig, load_global, load_user, user_files
from otobot.exchange import protocol as p
from otobot.exchange.book import DepthSnapshot
from otobot.exchange.errors import ExchangeError, MalformedMessage
from otobot.exchange.filters import FEE_RATE, fmt
from otobot.exchange.models import SymbolFilters, Token
from otobot.exchange.rest import AlphaRest
from otobot.ops import logsetup
from otobot.views.reports import table
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


def _decimal(value: str | None, flag: str, example: str, *, zero_ok: bool = False) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise PlanError(f"{flag} {value!r} is not a number: give e.g. {flag} {example}") from None
    if not d.is_finite() or d < 0 or (d == 0 and not zero_ok):
        raise PlanError(f"{flag} {value!r} must be a positive number, e.g. {flag} {example}")
    return d


def _user_file(users_dir: Path, user: str) -> UserConfig:
    for path in user_files(users_dir):
        if path.stem == user:
            return load_user(path)
    raise ConfigError(users_dir, [f"no user file {user}.yaml: create it or name one of "
                                  f"{', '.join(p.stem for p in user_files(users_dir)) or 'none'}"])


def inputs(args: argparse.Namespace) -> PlanInput:
    """From `otobot plan USER` (the user's YAML, read-only) or from --token/--target/--quote-amount."""
    config = Path(args.config) if args.config else None  # flag mode may run with no config file
    rel = ReliabilityConfig()
    rest_url = args.rest_url
    if args.user:
        assert config is not None  # the CLI finds one (or says it could not) for a USER
        settings = load_global(config)
        cfg = _user_file(settings.users_dir, args.user)
        # `candidates:` arrives with `token: auto` in the user file; until then auto means every tradable token.
        candidates = tuple(getattr(cfg, "candidates", ()) or ())
        tokens = candidates or ((AUTO,) if cfg.token.lower() == AUTO else (cfg.token,))
        return PlanInput(
            user=cfg.name, tokens=tokens, quote=cfg.quote, target=Target(cfg.target.kind, cfg.target.value),
            quote_amount=cfg.order_quote_amount, pause_s=Decimal(str(cfg.pause_between_cycles_s)),
            requests_per_second=Decimal(str(settings.reliability.requests_per_second)),
            reserve=cfg.min_quote_reserve, rest_url=rest_url or settings.exchange.rest_url)
    missing = [f for f, v in (("--token", args.token), ("--target", args.target),
                              ("--quote-amount", args.quote_amount)) if v is None]
    if missing:
        raise PlanError(f"`otobot plan` needs a USER (whose file in the users directory gives token, target, "
                        f"quote amount and pause) or all of --token, --target and --quote-amount; missing: "
                        f"{', '.join(missing)}. Example: otobot plan --token auto --target 15 --target-kind points "
                        f"--quote-amount 20")
    target = _decimal(args.target, "--target", "500")
    if args.target_kind == "points" and target != target.to_integral_value():
        raise PlanError(f"--target {args.target} with --target-kind points must be a whole number of points, e.g. 15")
    found = load_global(config) if config is not None and config.is_file() else None
    rps = found.reliability.requests_per_second if found else rel.requests_per_second
    rest_url = rest_url or (found.exchange.rest_url if found else p.REAL_REST_URL)
    pause = DEFAULT_PAUSE_S if args.pause is None else _decimal(args.pause, "--pause", "1", zero_ok=True)
    tokens = tuple(t.strip() for t in args.token.split(",") if t.strip())
    if not tokens:
        raise PlanError("--token is empty: give a token like KOGE, an alphaId like ALPHA_22, a comma list, or auto")
    return PlanInput(
        user=None, tokens=tokens, quote=args.quote, target=Target(args.target_kind, target),
        quote_amount=_decimal(args.quote_amount, "--quote-amount", "20"),
        pause_s=pause, requests_per_second=Decimal(str(rps)), reserve=Decimal(0), rest_url=rest_url)


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


def _q(value: Decimal | None, quantum: str) -> str | None:
    return None if value is None else fmt(value.quantize(Decimal(quantum)))


def to_json(inp: PlanInput, candidates: list[Candidate], choice: Candidate | None) -> dict[str, Any]:
    """Exactly the issue's shape; Decimals as strings."""
    return {
        "user": inp.user,
        "target": {"kind": inp.target.kind, "value": fmt(inp.target.value), "quote": inp.quote},
        "candidates": [{
            "token": c.token, "mul_point": c.mul_point, "spread_bps": _q(c.cycle.spread_bps, "0.01"),
            "cost_quote": _q(c.cost_quote, "0.00000001"), "cost_bps": _q(c.cycle.cost_bps, "0.01"),
            "cycles": c.cycles, "seconds": _q(c.seconds, "0.1"), "depth_ok": c.cycle.depth_ok,
        } for c in candidates],
        "choice": choice.token if choice else None,
    }


def _duration(seconds: Decimal) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def render(inp: PlanInput, candidates: list[Candidate], choice: Candidate | None) -> str:
    rows = [{
        "token": c.token, "mul": f"{c.mul_point}x", "spread_bps": _q(c.cycle.spread_bps, "0.01"),
        "cost_bps": _q(c.cycle.cost_bps, "0.01"), "per_counted_bps": _q(c.cycle.counted_bps(c.mul_point), "0.01"),
        "cycles": c.cycles, f"cost_{inp.quote}": _q(c.cost_quote, "0.01"), "time": _duration(c.seconds),
        f"balance_{inp.quote}": _q(c.balance_needed, "0.01"), f"buy_volume_{inp.quote}": _q(c.volume_needed, "0.01"),
        "points": c.points_reached, "depth": "ok" if c.cycle.depth_ok else "THIN",
    } for c in candidates]
    columns = ["token", "mul", "spread_bps", "cost_bps", "per_counted_bps", "cycles", f"cost_{inp.quote}", "time",
               f"balance_{inp.quote}", f"buy_volume_{inp.quote}", "points", "depth"]
    who = f"{inp.user}: " if inp.user else ""
    goal = (f"{fmt(inp.target.value)} volume points (floor(log2(buy volume × mulPoint)))" if inp.target.kind == "points"
            else f"{fmt(inp.target.value)} {inp.quote} of buy volume")
    lines = [f"{who}target {goal}, {fmt(inp.quote_amount)} {inp.quote} per cycle, "
             f"{fmt(inp.pause_s.normalize())} s pause, {fmt(inp.requests_per_second.normalize())} requests/s",
             table(rows, columns)]
    if choice is None:
        lines.append("choice: none — no candidate has enough depth on both sides for this order size")
    else:
        lines.append(f"choice: {choice.token} — reaches the target for about {_q(choice.cost_quote, '0.01')} "
                     f"{inp.quote} in {_duration(choice.seconds)}, buying {_q(choice.volume_needed, '0.01')} "
                     f"{inp.quote} ({choice.cycles} cycles, {_q(choice.cycle.counted_bps(choice.mul_point), '0.01')} "
                     f"bps per counted volume)")
        if inp.target.kind == "points":
            need = points.volume_for_points(int(inp.target.value), 1)
            lines.append(f"points: {fmt(inp.target.value)} points need {fmt(need.normalize())} of counted volume; "
                         f"the cheapest is {_q(choice.volume_needed, '0.01')} {inp.quote} bought on "
                         f"{choice.token} ({choice.mul_point}x)")
    return "\n".join(lines)


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


def main_plan(args: argparse.Namespace) -> int:
    logsetup.setup("WARNING")
    try:
        inp = inputs(args)
        candidates, choice = asyncio.run(run(inp))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except PlanError as exc:
        sys.stderr.write(f"otobot plan: {exc}\n")
        return exc.code
    if args.json:
        sys.stdout.write(json.dumps(to_json(inp, candidates, choice)) + "\n")
    else:
        sys.stdout.write(render(inp, candidates, choice) + "\n")
    return 0
