"""Argument parsing only: each command calls one function elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = os.environ.get("OTOBOT_CONFIG", "config/otobot.yaml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otobot", description="Binance Alpha OTO volume bot (many users, crash-safe).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_: str, *, config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        if config:
            sp.add_argument("--config", "-c", default=DEFAULT_CONFIG,
                            help=f"daemon config file (default: {DEFAULT_CONFIG}, or $OTOBOT_CONFIG)")
        return sp

    cmd("run", "run the daemon (what systemd starts)")
    cmd("check", "validate otobot.yaml and every user file; exit 1 on any problem (like nginx -t)")
    d = cmd("demo", "start the simulator and the daemon with 3 users, show progress, print a summary", config=False)
    d.add_argument("--seconds", type=float, default=30.0, help="how long to trade (default 30)")
    d.add_argument("--users", type=int, default=3)
    s = cmd("sim", "run the exchange simulator on 127.0.0.1", config=False)
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--sim-config", type=Path, default=None, help="simulator YAML (symbols, users, market)")
    s.add_argument("--users", type=int, default=3)
    s.add_argument("--seed", type=int, default=1)
    cmd("status", "every user: state, today's volume vs target, cycles, loss, pause reason")
    st = cmd("stats", "a user's totals: volume, cycles, fees, loss in quote and bps")
    st.add_argument("user")
    o = cmd("orders", "a user's orders, newest first")
    o.add_argument("user")
    o.add_argument("--status", help="NEW, FILLED, CANCELED, NOT_PLACED, ...")
    o.add_argument("--since", help="UTC date/time (2026-11-25 or 2026-11-25T10:00) or epoch ms")
    o.add_argument("--until")
    o.add_argument("--limit", type=int, default=30)
    o.add_argument("--page", type=int, default=1)
    b = cmd("balance", "a user's balances on the exchange and today's volume: exchange vs otobot")
    b.add_argument("user")
    t = cmd("tokens", "list the cached Alpha tokens (--refresh to fetch them)")
    t.add_argument("--refresh", action="store_true")

    c = cmd("creds", "import, check and re-encrypt users' exchange sessions")
    csub = c.add_subparsers(dest="creds_command", required=True, metavar="ACTION")
    ci = csub.add_parser("import", help="store a user's session from a browser 'Copy as cURL' (stdin or --file)")
    ci.add_argument("user")
    ci.add_argument("--file", type=Path, help="file with the cURL text (default: read stdin)")
    ci.add_argument("--no-check", action="store_true", help="store without the login check request")
    cc = csub.add_parser("check", help="is each user's session still logged in?")
    cc.add_argument("user", nargs="?")
    csub.add_parser("rotate-key", help="re-encrypt every stored session with the newest master key")
    cg = csub.add_parser("gen-key", help="create a new master key file (mode 0600)")
    cg.add_argument("path", type=Path)

    ctl = cmd("ctl", "talk to the running daemon over its control socket")
    ctl.add_argument("action", choices=["status", "pause", "resume", "reload", "health"])
    ctl.add_argument("user", nargs="?")
    cmd("health", "database, streams and per-user state of the running daemon (exit 1 if unhealthy)")

    be = cmd("bench", "measure reaction latency, throughput, footprint and cost against a simulator process",
             config=False)
    be.add_argument("--users", type=int, default=10)
    be.add_argument("--duration", type=float, default=20.0, help="seconds of trading (default 20)")
    be.add_argument("--seed", type=int, default=1)
    be.add_argument("--pause", type=float, default=0.0,
                    help="seconds between a user's cycles (0 = flat out; latency excludes this pause)")
    be.add_argument("--burst", action="store_true", help="one market move fills every user at once")
    be.add_argument("--shared-price-stream", action="store_true",
                    help="one price websocket per symbol for all bots (exchange.shared_price_stream)")
    be.add_argument("--chaos", action="store_true", help="inject faults and check the invariants")
    be.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    pl = cmd("plan", "what each candidate token would cost to reach a target, from the public book (no session)")
    pl.add_argument("user", nargs="?", help="plan from this user's file (token, target, quote amount, pause)")
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.add_argument("--token", help="without USER: KOGE, ALPHA_22, a comma list, or auto (every tradable token)")
    pl.add_argument("--target", help="without USER: the day's target (quote of buy volume, or points)")
    pl.add_argument("--target-kind", choices=["volume", "points"], default="volume")
    pl.add_argument("--quote-amount", help="without USER: quote spent per cycle, e.g. 20")
    pl.add_argument("--quote", default="USDT", choices=["USDT", "USDC"])
    pl.add_argument("--pause", help="without USER: seconds between cycles (default 1)")
    pl.add_argument("--rest-url", help="public REST base URL (default: exchange.rest_url of --config, else binance)")
    hi = cmd("history", "a user's volume, points, target, cycles, fees and pauses per UTC day, with a chart")
    hi.add_argument("user")
    hi.add_argument("--days", type=int, default=14, help="how many UTC days back, today included (default 14)")
    hi.add_argument("--json", action="store_true", help="print JSON instead of the table and chart")
    au = cmd("audit", "a user's pauses, resumes, reloads (key by key), adoptions and strays, newest last")
    au.add_argument("user")
    au.add_argument("--since", help="UTC date/time (2026-11-25 or 2026-11-25T10:00) or epoch ms")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: str = args.command
    try:
        if command == "run":
            from otobot.daemon import run_daemon
            return asyncio.run(run_daemon(Path(args.config)))
        if command == "check":
            from otobot.daemon import check
            return check(Path(args.config))
        if command == "demo":
            from otobot.demo import run_demo
            return asyncio.run(run_demo(seconds=args.seconds, users=args.users))
        if command == "sim":
            from otobot.sim.runner import main_sim
            return main_sim(port=args.port, config_path=args.sim_config, users=args.users, seed=args.seed)
        if command == "bench":
            from otobot.bench import run_bench
            result: int = run_bench(users=args.users, duration=args.duration, seed=args.seed, burst=args.burst,
                                    chaos=args.chaos, json_path=args.json, pause=args.pause,
                                    shared=args.shared_price_stream)
            return result
        if command == "plan":
            from otobot.plan import main_plan
            return main_plan(args)
        if command == "history":
            from otobot.history import run_history
            return asyncio.run(run_history(args))
        if command == "audit":
            from otobot.audit_view import run_audit
            return asyncio.run(run_audit(args))
        from otobot import commands
        return asyncio.run(commands.dispatch(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `otobot orders … | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
