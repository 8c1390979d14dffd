"""Operator commands that read the database or ask the daemon: status, stats, orders, balance, tokens, ctl."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import aiohttp

from otobot.cli.common import CommandProblem, err, out, out_json, user_config, user_credentials
from otobot.cli.creds import gen_key
from otobot.cli.creds import run as run_creds
from otobot.config.settings import ConfigError, GlobalConfig, load_global, scan_users, user_files
from otobot.exchange.errors import ExchangeError
from otobot.exchange.filters import fmt
from otobot.exchange.rest import AlphaRest
from otobot.ops import control, logsetup
from otobot.ops.control import socket_path
from otobot.ops.secrets import MasterKeyError
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseUnreadable
from otobot.store.opening import open_or_empty
from otobot.views import reports

MANUAL_TIMEOUT_S = 900.0  # ctl cancel / flatten: the whole unwind ladder may run before the report


async def dispatch(args: argparse.Namespace) -> int:
    """Run one command; a problem the operator can fix is printed as one paragraph and exits 1."""
    logsetup.setup("WARNING")  # one-shot commands print their answer; only problems go to stderr
    if args.command == "creds" and args.creds_command == "gen-key":
        return gen_key(args.path)  # needs no config: it is how a first install starts
    try:
        settings = load_global(Path(args.config))
        return await _run(settings, args)
    except (ConfigError, CommandProblem, DatabaseUnreadable, MasterKeyError) as exc:
        err(str(exc))
        return 1


async def _run(settings: GlobalConfig, args: argparse.Namespace) -> int:
    as_json: bool = getattr(args, "json", False)
    if args.command == "ctl":
        return await ctl(settings, args.action, args.user, as_json)
    if args.command == "health":
        return await ctl(settings, "health", None, as_json)
    if args.command == "creds":
        return await run_creds(settings, args)
    store = await open_or_empty(settings.database)
    try:
        if args.command == "status":
            return await status(settings, store, as_json)
        if args.command == "tokens":
            return await tokens(settings, store, args.refresh, as_json)
        await _known_user(settings, store, args.user)
        if args.command == "stats":
            row = await reports.stats_row(store, args.user)
            if as_json:
                out_json(row)
            else:
                out(reports.table([row], list(row)))
            return 0
        if args.command == "orders":
            return await orders(store, args, as_json)
        if args.command == "balance":
            return await balance(settings, store, args.user, as_json)
    finally:
        await store.close()
    raise CommandProblem(f"otobot: unknown command {args.command}")


async def _known_user(settings: GlobalConfig, store: Store, user: str) -> None:
    """A user has a file in the users folder or a history in the database; else the name is a typo."""
    files = {p.stem for p in user_files(settings.users_dir)}
    if user in files or user in {u["name"] for u in await store.users()}:
        return
    known = ", ".join(sorted(files)) or "none"
    raise CommandProblem(f"no user {user!r}: there is no {settings.users_dir / user}.yaml and the database "
                         f"{settings.database} has no history for that name; the users are: {known}")


async def status(settings: GlobalConfig, store: Store, as_json: bool) -> int:
    live: dict[str, Any] | None = None
    try:
        live = await control.request(socket_path(settings), "status")
        daemon = "running"
    except control.ControlUnavailable as exc:
        daemon = f"not running ({exc})"
    rows = await reports.status_rows(settings, store, live)
    if as_json:
        out_json({"daemon": daemon, "users": rows})
        return 0
    out(f"daemon: {daemon}")
    out(reports.table(rows, ["user", "state", "token", "today", "target", "done%", "cycles", "left_est", "loss",
                             "loss_bps", "paused"]) if rows else f"no users in {settings.users_dir}")
    for r in rows:
        if r.get("token_choice"):
            out(f"{r['user']}: token auto chose {r['token_choice']}")
    return 0


async def orders(store: Store, args: argparse.Namespace, as_json: bool) -> int:
    rows = await reports.order_rows(store, args.user, status=args.status, since_ms=args.since, until_ms=args.until,
                                    limit=args.limit, page=args.page)
    if as_json:
        out_json(rows)
    elif rows:
        out(reports.table(rows, ["time", "cycle", "role", "order_id", "side", "price", "qty", "filled", "quote",
                                 "status"]))
    else:
        out(f"no orders for {args.user} on page {args.page} with these filters")
    return 0


async def ctl(settings: GlobalConfig, action: str, user: str | None, as_json: bool) -> int:
    if action in ("pause", "resume", "cancel", "flatten") and not user:
        err(f"otobot ctl {action}: which user? e.g. `otobot ctl {action} alice`")
        return 2
    try:
        # cancel / flatten answer once the unwind ladder is done: rungs take their time
        timeout = MANUAL_TIMEOUT_S if action in ("cancel", "flatten") else 5.0
        result = await control.request(socket_path(settings), action, user, timeout)
    except control.ControlUnavailable as exc:
        err(str(exc))
        return 1
    except control.ControlError as exc:
        err(f"the daemon refused: {exc}")
        return 1
    rejected: dict[str, str] = {}
    if action == "reload" and result.get("errors"):
        # The daemon's reply names the rejected users; the reasons are read here from the same files.
        scan = scan_users(settings.users_dir)
        rejected = {name: str(scan.errors.get(name, "rejected (see the daemon's log)")) for name in result["errors"]}
    if as_json:
        out_json(result)
    else:
        out(reports.ctl_text(action, result))
        for text in rejected.values():
            err(text)
    if action == "health" and not result.get("ok", False):
        return 1
    return 1 if rejected else 0


async def balance(settings: GlobalConfig, store: Store, user: str, as_json: bool) -> int:
    creds = await user_credentials(settings, store, cfg := user_config(settings, user))
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, settings.exchange.rest_url, creds)
        try:
            quote = await rest.quote_balance(cfg.quote)
            alpha = await rest.alpha_balances()
            volume = await rest.user_volume()
        except ExchangeError as exc:
            raise CommandProblem(f"{user}: the exchange did not answer the balance request: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CommandProblem(f"{user}: cannot reach {settings.exchange.rest_url} ({exc or 'timed out'})") from None
    # Every bucket get-wallet-asset sent, funding first (what orders spend); a null bucket shows as "-".
    rows = [{"asset": quote.asset, "wallet": name + (" (pays orders)" if name == "funding" else ""),
             "free": fmt(b.free) if b else None, "locked": fmt(b.locked) if b else None,
             "total": fmt(b.free + b.locked) if b else None} for name, b in quote.buckets().items()]
    rows += [{"asset": b.asset, "wallet": "alpha", "free": fmt(b.free), "locked": fmt(b.locked),
              "total": fmt(b.total)} for b in alpha]
    hint = quote.shortfall_hint(cfg.order_quote_amount + cfg.min_quote_reserve)
    from otobot.trading.daybook import utc_day
    ours = await store.day_volume(user, utc_day(int(time.time() * 1000)))
    today = {"exchange_volume": fmt(volume.total), "otobot_bought": fmt(ours.buy_quote),
             "otobot_sold": fmt(ours.sell_quote)}
    if as_json:
        out_json({"user": user, "balances": rows, "today": today, "shortfall": hint})
        return 0
    out(reports.table(rows, ["asset", "wallet", "free", "locked", "total"]))
    if hint is not None:
        out(f"not enough to place one order of {fmt(cfg.order_quote_amount)} {cfg.quote}: {hint}")
    out(f"today's volume: exchange reports {today['exchange_volume']} (may include the token multiplier and lag "
        f"minutes); otobot recorded {today['otobot_bought']} bought + {today['otobot_sold']} sold")
    return 0


async def tokens(settings: GlobalConfig, store: Store, refresh: bool, as_json: bool) -> int:
    if refresh or not await store.tokens():
        async with aiohttp.ClientSession() as session:
            rest = AlphaRest(session, settings.exchange.rest_url, None)
            try:
                now = int(time.time() * 1000)
                await store.put_tokens(await rest.token_list(), now)
                await store.put_symbols(await rest.exchange_info(), now)
            except ExchangeError as exc:
                raise CommandProblem(f"could not fetch the token list: {exc}") from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise CommandProblem(f"could not fetch the token list from {settings.exchange.rest_url} "
                                     f"({exc or 'timed out'})") from None
    rows = await reports.token_rows(store)
    if as_json:
        out_json(rows)
    else:
        out(reports.table(rows, ["symbol", "alpha_id", "name", "mulPoint", "tradable", "cached"]))
    return 0
