"""`otobot plan`: before any order, what each candidate token would cost to reach a target, from the public book."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from otobot.config.settings import ConfigError, ReliabilityConfig, UserConfig, load_global, load_user, user_files
from otobot.exchange import protocol as p
from otobot.exchange.filters import fmt
from otobot.ops import logsetup
from otobot.trading import daybook as points
from otobot.trading.plan import AUTO, DEFAULT_PAUSE_S, PlanError, PlanInput, run
from otobot.trading.planner import Candidate, Target
from otobot.views.reports import table


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
