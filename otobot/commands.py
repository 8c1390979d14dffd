"""Operator commands that read the database or ask the daemon: status, stats, orders, balance, tokens, creds."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from otobot import control, logsetup, reports
from otobot.config import ConfigError, GlobalConfig, UserConfig, load_global, load_user, user_files
from otobot.curl import CurlParseError, parse_curl
from otobot.dbfile import DatabaseUnreadable
from otobot.exchange.credentials import Credentials
from otobot.exchange.errors import AuthExpired, ExchangeError
from otobot.exchange.filters import fmt
from otobot.exchange.rest import AlphaRest
from otobot.secrets import Keyring, decrypt_credentials, encrypt_credentials, generate_key_file, load_keys
from otobot.store import Store


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def socket_path(settings: GlobalConfig) -> Path:
    """The control socket: configured, else $RUNTIME_DIRECTORY (systemd), else beside the database."""
    if settings.control_socket is not None:
        return settings.control_socket
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / "otobot.sock"
    return settings.database.parent / "otobot.sock"


def keyring_for(settings: GlobalConfig) -> Keyring:
    creds_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    return Keyring(load_keys(os.environ, settings.key_file, Path(creds_dir) if creds_dir else None))


async def dispatch(args: argparse.Namespace) -> int:
    logsetup.setup("WARNING")  # one-shot commands print their answer; only problems go to stderr
    try:
        settings = load_global(Path(args.config))
    except ConfigError as exc:
        err(str(exc))
        return 2
    if args.command == "ctl":
        return await ctl(settings, args.action, args.user)
    if args.command == "health":
        return await ctl(settings, "health", None)
    if args.command == "creds" and args.creds_command == "gen-key":
        generate_key_file(args.path)
        out(f"wrote a new master key to {args.path} (mode 0600); point credentials.key_file at it or install it "
            "as the systemd credential otobot-master-key")
        return 0
    try:
        store = await Store.open(settings.database)
    except DatabaseUnreadable as exc:
        err(str(exc))
        return 1
    try:
        if args.command == "status":
            return await status(settings, store)
        if args.command == "stats":
            out(reports.table([await reports.stats_row(store, args.user)],
                              ["user", "cycles", "buy_volume", "sell_volume", "fees", "loss", "loss_bps"]))
            return 0
        if args.command == "orders":
            rows = await reports.order_rows(store, args.user, status=args.status, since=args.since, until=args.until,
                                            limit=args.limit, page=args.page)
            out(reports.table(rows, ["time", "cycle", "role", "order_id", "side", "price", "qty", "filled", "quote",
                                     "status"]) if rows else f"no orders for {args.user} on page {args.page}")
            return 0
        if args.command == "tokens":
            return await tokens(settings, store, args.refresh)
        if args.command == "balance":
            return await balance(settings, store, args.user)
        if args.command == "creds":
            return await creds(settings, store, args)
    finally:
        await store.close()
    err(f"unknown command {args.command}")
    return 2


async def status(settings: GlobalConfig, store: Store) -> int:
    live: dict[str, Any] | None = None
    try:
        live = (await control.request(socket_path(settings), "status"))
        out("daemon: running")
    except control.ControlUnavailable as exc:
        out(f"daemon: not running ({exc})")
    rows = await reports.status_rows(settings, store, live)
    out(reports.table(rows, ["user", "state", "token", "today", "target", "done%", "cycles", "left_est", "loss",
                             "loss_bps", "paused"]) if rows else f"no users in {settings.users_dir}")
    return 0


async def ctl(settings: GlobalConfig, action: str, user: str | None) -> int:
    if action in ("pause", "resume") and not user:
        err(f"`otobot ctl {action}` needs a USER")
        return 2
    try:
        result = await control.request(socket_path(settings), action, user)
    except control.ControlUnavailable as exc:
        err(str(exc))
        return 1
    except control.ControlError as exc:
        err(f"the daemon refused: {exc}")
        return 1
    out(json.dumps(result, indent=2, default=str))
    if action == "health" and not result.get("ok", False):
        return 1
    return 0


def _user_cfg(settings: GlobalConfig, user: str) -> UserConfig:
    for path in user_files(settings.users_dir):
        if path.stem == user:
            return load_user(path)
    raise ConfigError(settings.users_dir, [f"no user file {user}.yaml in {settings.users_dir}"])


async def _credentials(settings: GlobalConfig, store: Store, cfg: UserConfig) -> Credentials:
    if cfg.credentials is not None:
        return cfg.credentials
    blob = await store.load_credentials(cfg.name)
    if blob is None:
        raise ConfigError(cfg.path, [f"no stored credentials: run `otobot creds import {cfg.name}`"])
    return decrypt_credentials(keyring_for(settings), blob)


async def balance(settings: GlobalConfig, store: Store, user: str) -> int:
    try:
        cfg = _user_cfg(settings, user)
        creds = await _credentials(settings, store, cfg)
    except ConfigError as exc:
        err(str(exc))
        return 2
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, settings.exchange.rest_url, creds)
        try:
            quote = await rest.quote_balance(cfg.quote)
            alpha = await rest.alpha_balances()
            volume = await rest.user_volume()
        except ExchangeError as exc:
            err(f"{user}: {exc}")
            return 1
    rows = [{"asset": quote.asset, "free": fmt(quote.free), "locked": fmt(quote.locked), "total": fmt(quote.total)}]
    rows += [{"asset": b.asset, "free": fmt(b.free), "locked": fmt(b.locked), "total": fmt(b.total)} for b in alpha]
    out(reports.table(rows, ["asset", "free", "locked", "total"]))
    from otobot.points import utc_day
    ours = await store.day_volume(user, utc_day(int(time.time() * 1000)))
    out(f"today's volume: exchange reports {fmt(volume.total)} (may include the token multiplier and lag "
        f"minutes); otobot recorded {fmt(ours.buy_quote)} bought + {fmt(ours.sell_quote)} sold")
    return 0


async def tokens(settings: GlobalConfig, store: Store, refresh: bool) -> int:
    if refresh or not await store.tokens():
        async with aiohttp.ClientSession() as session:
            rest = AlphaRest(session, settings.exchange.rest_url, None)
            try:
                now = int(time.time() * 1000)
                await store.put_tokens(await rest.token_list(), now)
                await store.put_symbols(await rest.exchange_info(), now)
            except ExchangeError as exc:
                err(f"could not fetch the token list: {exc}")
                return 1
    rows = await reports.token_rows(store)
    out(reports.table(rows, ["symbol", "alpha_id", "name", "mulPoint", "tradable", "cached"]))
    return 0


async def creds(settings: GlobalConfig, store: Store, args: argparse.Namespace) -> int:
    action = args.creds_command
    if action == "import":
        text = args.file.read_text() if args.file else sys.stdin.read()
        try:
            credentials = parse_curl(text)
        except CurlParseError as exc:
            err(str(exc))
            return 2
        if not args.no_check:
            ok, detail = await _check(settings, credentials)
            if not ok:
                err(f"{args.user}: these cookies are not logged in ({detail}); nothing stored")
                return 1
        keyring = keyring_for(settings)
        await store.save_credentials(args.user, encrypt_credentials(keyring, credentials), int(time.time() * 1000))
        out(f"stored encrypted credentials for {args.user} ({len(credentials.cookie_names())} cookies); "
            f"send SIGHUP or `otobot ctl resume {args.user}` to use them")
        return 0
    if action == "check":
        users = [args.user] if args.user else sorted({p.stem for p in user_files(settings.users_dir)})
        worst = 0
        for user in users:
            try:
                credentials = await _credentials(settings, store, _user_cfg(settings, user))
            except ConfigError as exc:
                out(f"{user}: no credentials ({exc.problems[0]})")
                worst = 1
                continue
            ok, detail = await _check(settings, credentials)
            out(f"{user}: {'logged in' if ok else 'NOT logged in'} {detail}".rstrip())
            worst = worst or (0 if ok else 1)
        return worst
    if action == "rotate-key":
        keyring = keyring_for(settings)
        n = 0
        for user in await store.credential_users():
            blob = await store.load_credentials(user)
            if blob is not None:
                await store.save_credentials(user, keyring.rotate(blob), int(time.time() * 1000))
                n += 1
        out(f"re-encrypted {n} stored session(s) with the newest key; the old key can now be removed")
        return 0
    err(f"unknown creds action {action}")
    return 2


async def _check(settings: GlobalConfig, credentials: Credentials) -> tuple[bool, str]:
    async with aiohttp.ClientSession() as session:
        rest = AlphaRest(session, settings.exchange.rest_url, credentials)
        try:
            await rest.check_session()
            return True, ""
        except AuthExpired as exc:
            return False, f"({exc})"
        except ExchangeError as exc:
            return False, f"(could not check: {exc})"

