"""Argument parsing only: each command calls one function elsewhere. Exit codes: 0 ok, 1 problem found, 2 usage."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from otobot import __version__
from otobot.cli.args import (
    CONFIG_ENV,
    CONFIG_SEARCH,
    ConfigNotFound,
    find_config,
    order_status,
    positive_int,
    user_name,
    when,
)
from otobot.daemon import eventloop
from otobot.ops.redact import Redactor

CONFIG_HELP = (f"daemon config file (default: ${CONFIG_ENV}, else ./config/otobot.yaml, else "
               "/etc/otobot/otobot.yaml); accepted before or after the command")
NO_CONFIG = ("demo", "sim", "bench")


def _common(parser: argparse.ArgumentParser, *, top: bool = False, config: bool = True) -> None:
    """-c and --debug on every level, so they work before or after the command: a subcommand only sets them
    when given (SUPPRESS), so it never overwrites what was given before it."""
    default: object = None if top else argparse.SUPPRESS
    if config:
        parser.add_argument("-c", "--config", default=default, metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="on an internal error, print the traceback")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otobot", description="Binance Alpha OTO volume bot (many users, crash-safe).",
                                epilog="exit codes: 0 ok, 1 a problem was found, 2 wrong usage")
    p.add_argument("--version", action="version", version=f"otobot {__version__}")
    _common(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_: str, *, config: bool = True, json: bool = False) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        _common(sp, config=config)
        if json:
            sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return sp

    cmd("run", "run the daemon (what systemd starts)")
    cmd("check", "validate otobot.yaml, every user file and the stored sessions; exit 1 on any problem "
                 "(like nginx -t)")
    d = cmd("demo", "start the simulator and the daemon with 3 users, show progress, print a summary", config=False)
    d.add_argument("--seconds", type=float, default=30.0, help="how long to trade (default 30)")
    d.add_argument("--users", type=positive_int, default=3)
    s = cmd("sim", "run the exchange simulator on 127.0.0.1", config=False)
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--sim-config", type=Path, default=None, help="simulator YAML (symbols, users, market)")
    s.add_argument("--users", type=positive_int, default=3)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--market-from", metavar="URL", default="", nargs="?", const="https://www.binance.com",
                   help="paper trading: mirror this exchange's public side live (alone: https://www.binance.com); "
                        "orders, fills and balances stay the simulator's own")
    s.add_argument("--tokens", default="", metavar="A,B", help="with --market-from: the tokens to mirror "
                                                                "(symbols or alphaIds; default every tradable one)")
    pp = cmd("paper", "paper trading: your config and the same daemon on the exchange's live public market, with "
                      "virtual money and a paper database beside the real one (nothing reaches your account)")
    pp.add_argument("--market-from", metavar="URL", default=None,
                    help="the exchange whose public side to mirror (default: exchange.rest_url of the config)")
    pp.add_argument("--tokens", default="", metavar="A,B", help="tokens to mirror besides the users' own")
    pp.add_argument("--usdt", default="1000", metavar="AMOUNT", help="virtual USDT per user (default 1000)")
    pp.add_argument("--port", type=int, default=0, help="the paper simulator's port (default: any free one)")
    pp.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until SIGTERM)")
    pp.add_argument("--notify", action="store_true", help="keep the notify sections (every message starts with "
                                                           "PAPER; Telegram commands stay with the real daemon)")
    cmd("status", "every user: state, today's volume vs target, cycles, loss, pause reason", json=True)
    st = cmd("stats", "a user's totals: volume, cycles, fees, loss in quote and bps", json=True)
    st.add_argument("user", type=user_name)
    o = cmd("orders", "a user's orders, newest first", json=True)
    o.add_argument("user", type=user_name)
    o.add_argument("--status", type=order_status, help="INTENT, PENDING, NEW, PARTIALLY_FILLED, FILLED, CANCELED, "
                                                        "EXPIRED, REJECTED or NOT_PLACED (any case)")
    o.add_argument("--since", type=when, help="2026-11-25, 2026-11-25T10:00 (UTC), epoch ms, today, yesterday, "
                                              "or an age: 30m, 2h, 1d")
    o.add_argument("--until", type=when, help="same forms as --since")
    o.add_argument("--limit", type=positive_int, default=30)
    o.add_argument("--page", type=positive_int, default=1)
    o.add_argument("--cycle", type=positive_int, help="one cycle (its id in the `cycle` column): its orders, every "
                                                       "fill and the fees")
    b = cmd("balance", "a user's balances on the exchange and today's volume: exchange vs otobot", json=True)
    b.add_argument("user", type=user_name)
    t = cmd("tokens", "list the cached Alpha tokens with tick, step and minimum notional (--refresh to fetch them)",
            json=True)
    t.add_argument("--refresh", action="store_true")
    pr = cmd("price", "a token's last price and 24 h range from the public ticker (no session needed)", json=True)
    pr.add_argument("token", help="KOGE, ALPHA_22 or ALPHA_22USDT")
    pr.add_argument("--quote", default="USDT", choices=["USDT", "USDC"])

    c = cmd("creds", "import, check and re-encrypt users' exchange sessions")
    csub = c.add_subparsers(dest="creds_command", required=True, metavar="ACTION")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        ap = csub.add_parser(name, help=help_, description=help_)
        _common(ap)
        return ap

    ci = action("import", "store a user's session from a browser 'Copy as cURL' (stdin or --file)")
    ci.add_argument("user", type=user_name)
    ci.add_argument("--file", type=Path, help="file with the cURL text (default: read stdin)")
    ci.add_argument("--no-check", action="store_true", help="store without the login check request")
    cc = action("check", "is each user's session still logged in?")
    cc.add_argument("user", nargs="?", type=user_name)
    action("rotate-key", "re-encrypt every stored session with the newest master key")
    cg = action("gen-key", "create a new master key file (mode 0600); never overwrites one")
    cg.add_argument("path", type=Path)

    ctl = cmd("ctl", "talk to the running daemon over its control socket: cancel USER cancels the live cycle and "
              "sells what it bought down the unwind ladder; flatten USER sells otobot's own base of the token down "
              "the ladder (never the user's own coins; --all sells everything free, after a confirmation); both "
              "then pause USER (operator) and print what they did", json=True)
    ctl.add_argument("action", choices=["status", "pause", "resume", "cancel", "flatten", "reload", "health"])
    ctl.add_argument("user", nargs="?", type=user_name)
    ctl.add_argument("--all", action="store_true", dest="everything",
                     help="flatten: sell ALL free base of the token, the user's own coins too (asks to confirm)")
    ctl.add_argument("--yes", action="store_true", help="flatten --all: confirmed, do not ask")
    cmd("health", "database, streams and per-user state of the running daemon (exit 1 if unhealthy)", json=True)

    be = cmd("bench", "measure reaction latency, throughput, footprint and cost against a simulator process",
             config=False)
    be.add_argument("--users", type=positive_int, default=10)
    be.add_argument("--duration", type=float, default=20.0, help="seconds of trading (default 20)")
    be.add_argument("--seed", type=int, default=1)
    be.add_argument("--pause", type=float, default=0.0,
                    help="seconds between a user's cycles (0 = flat out; latency excludes this pause)")
    be.add_argument("--burst", action="store_true", help="one market move fills every user at once")
    be.add_argument("--shared-price-stream", action="store_true",
                    help="one price websocket per symbol for all bots (exchange.shared_price_stream)")
    be.add_argument("--chaos", action="store_true", help="inject faults and check the invariants")
    be.add_argument("--writes-floor", action="store_true",
                    help="record the window's SQLite writes and time SQLite alone replaying them into a new file "
                         "(the recording costs the daemon a little CPU and memory while it measures)")
    be.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    be.add_argument("--soak", type=float, default=None, metavar="MINUTES",
                    help="the daemon in its own process for MINUTES, RSS, cycles/s and reaction p99 sampled every "
                         "minute (see Benchmarks: soak)")
    be.add_argument("--soak-every", type=float, default=60.0, help=argparse.SUPPRESS)
    be.add_argument("--soak-keep", type=Path, default=None, help=argparse.SUPPRESS)
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
    hi = cmd("history", "a user's volume, points, target, cycles, fees and pauses per UTC day, with a chart",
             json=True)
    hi.add_argument("user", type=user_name)
    hi.add_argument("--days", type=int, default=14, help="how many UTC days back, today included (default 14)")
    cmd("dbsize", "the database's size, bytes per cycle by table, growth per day at today's rate and the size "
                  "retention holds it at (reads the whole file once)", json=True)
    au = cmd("audit", "a user's pauses, resumes, reloads (key by key), adoptions and strays, newest last",
             json=True)
    au.add_argument("user", type=user_name)
    au.add_argument("--since", type=when, help="2026-11-25, 2026-11-25T10:00 (UTC), epoch ms, today, yesterday, "
                                              "or an age: 30m, 2h, 1d")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # usage errors exit 2 here, with argparse's message
    debug = bool(getattr(args, "debug", False))
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `otobot orders … | head`
        return 0
    except ConfigNotFound as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except eventloop.EventLoopError as exc:
        sys.stderr.write(f"otobot: {exc}\n")
        return 2
    except Exception as exc:
        # Every known problem has its own message; this is the last guard so an operator never reads a traceback
        # (which may quote request headers: redacted like the log) unless asking for it.
        redact = Redactor().redact
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))
        else:
            what = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            sys.stderr.write(f"otobot: internal error: {redact(what)}; run with --debug for the traceback\n")
        _exit_if_stuck(1)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    gen_key = command == "creds" and args.creds_command == "gen-key"  # how a first install starts: no config yet
    if command == "plan" and not args.user and not args.config and not os.environ.get(CONFIG_ENV):
        args.config = next((str(c) for c in CONFIG_SEARCH if c.is_file()), "")  # flag mode needs no config file
    elif command not in NO_CONFIG and not gen_key:
        args.config = find_config(args.config, os.environ)
    if command == "run":
        from otobot.daemon.run import run_daemon
        return eventloop.run(run_daemon(Path(args.config)), os.environ)
    if command == "check":
        from otobot.cli.check import check
        return check(Path(args.config))
    if command == "demo":
        from otobot.cli.demo import run_demo
        return eventloop.run(run_demo(seconds=args.seconds, users=args.users), os.environ)
    if command == "sim":
        return _sim(args)
    if command == "paper":
        from otobot.cli.paper import main_paper
        return main_paper(Path(args.config), market_from=args.market_from, usdt=args.usdt, port=args.port,
                          tokens=tuple(t.strip() for t in args.tokens.split(",") if t.strip()), seconds=args.seconds,
                          keep_notify=args.notify)
    if command == "bench" and args.soak is not None:
        from otobot.bench.soak import run_soak
        soaked: int = run_soak(users=args.users, minutes=args.soak, seed=args.seed, chaos=args.chaos, pause=args.pause,
                               json_path=args.json, every_s=args.soak_every, keep=args.soak_keep)
        return soaked
    if command == "bench":
        from otobot.bench.run import run_bench
        result: int = run_bench(users=args.users, duration=args.duration, seed=args.seed, burst=args.burst,
                                chaos=args.chaos, json_path=args.json, pause=args.pause,
                                shared=args.shared_price_stream, writes_floor=args.writes_floor)
        return result
    if command == "plan":
        from otobot.cli.plan import main_plan
        return main_plan(args)
    if command == "history":
        from otobot.views.history import run_history
        return asyncio.run(run_history(args))
    if command == "audit":
        from otobot.views.audit import run_audit
        return asyncio.run(run_audit(args))
    if command == "dbsize":
        from otobot.views.dbsize import run_dbsize
        return asyncio.run(run_dbsize(args))
    from otobot.cli.commands import dispatch
    return asyncio.run(dispatch(args))


def _sim(args: argparse.Namespace) -> int:
    import yaml

    from otobot.sim.runner import main_sim
    from otobot.sim.upstream import UpstreamError
    try:
        tokens = tuple(t.strip() for t in args.tokens.split(",") if t.strip())
        return main_sim(port=args.port, config_path=args.sim_config, users=args.users, seed=args.seed,
                        market_from=args.market_from, tokens=tokens)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            sys.stderr.write(f"otobot sim: port {args.port} on 127.0.0.1 is already in use (another `otobot sim`?); "
                             "stop it or pick a free port with --port\n")
        else:
            where = exc.filename or f"port {args.port}"
            sys.stderr.write(f"otobot sim: {where}: {exc.strerror or exc}\n")
        return 1
    except UpstreamError as exc:
        sys.stderr.write(f"otobot sim: --market-from: {exc}\n")
        return 1
    except (ValueError, yaml.YAMLError) as exc:  # a bad --sim-config
        sys.stderr.write(f"otobot sim: {' '.join(str(exc).split())}\n")
        return 1


def _exit_if_stuck(code: int) -> None:
    """After an internal error a worker thread (aiosqlite's) may still be running and would keep the process
    alive forever; a one-shot command must end, so leave at once once the message is out."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
