"""Users directory → one Bot task per enabled user; SIGHUP reloads, SIGTERM/SIGINT stop, crashed bots restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger
from transitions import Machine

from otobot.config.diff import user_changes
from otobot.config.settings import ConfigError, GlobalConfig, UserConfig, UsersScan, load_global, scan_users
from otobot.exchange.credentials import Credentials
from otobot.exchange.streams import TradeCache
from otobot.ops.secrets import DecryptError, MasterKeyError
from otobot.store.db import Store
from otobot.trading.bot import Bot
from otobot.trading.cycle import build_machine
from otobot.trading.depthcache import DepthCache
from otobot.trading.ports import Clock, MetricsSink, Notify, SystemClock
from otobot.trading.pricefeed import PriceFeeds
from otobot.views.audit import reload_record

STOP_GRACE_S = 8.0  # systemd's TimeoutStopSec is 20 s; the issue asks for an exit within 10 s


class CredentialsMissing(Exception):
    """A user with `credentials.source: store` (the default) and nothing stored for them, or no key to open it."""

    def __init__(self, message: str, short: str = "no credentials") -> None:
        super().__init__(message)
        self.short = short


class CredentialSource:
    """Where a user's session comes from: inline in the YAML, or decrypted from the store."""

    def __init__(self, store: Store, decrypt: Any | None) -> None:
        self.store = store
        self.decrypt = decrypt  # bytes → Credentials, or None when no master key is configured

    async def get(self, cfg: UserConfig) -> Credentials:
        if cfg.credentials is not None:
            return cfg.credentials
        blob = await self.store.load_credentials(cfg.name)
        if blob is None:
            raise CredentialsMissing(f"no stored credentials for {cfg.name}: run `otobot creds import {cfg.name}` "
                                     f"with a 'Copy as cURL' of an Alpha order request")
        if self.decrypt is None:
            raise CredentialsMissing(f"credentials of {cfg.name} are stored encrypted but no master key is set: "
                                     "set OTOBOT_MASTER_KEY or credentials.key_file in otobot.yaml", "no master key")
        creds: Credentials = self.decrypt(blob)
        return creds


def credentials_problem(user: str, exc: Exception) -> tuple[str, str]:
    """Why `user`'s session could not be loaded, with the fix, and the same in a few words for `status`."""
    if isinstance(exc, CredentialsMissing):
        return str(exc), exc.short
    if isinstance(exc, DecryptError):
        return (f"{exc}; set the master key {user}'s session was imported with (OTOBOT_MASTER_KEY, "
                f"credentials.key_file or the systemd credential otobot-master-key), or import the session again "
                f"with `otobot creds import {user}`", "wrong master key")
    if isinstance(exc, MasterKeyError):
        return str(exc), "master key problem"
    return (f"cannot load the stored session ({type(exc).__name__}: {exc}); import it again with "
            f"`otobot creds import {user}`", "credentials unreadable")


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the exchange could not be reached at all (refused, DNS, timeout), from the error or its causes;
    None for every other error, which is a crash worth its traceback."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, aiohttp.ClientConnectorError):
            cur = cur.os_error
            continue
        if isinstance(cur, TimeoutError | aiohttp.ServerTimeoutError):
            return "timed out"
        if isinstance(cur, OSError) and (cur.errno or cur.strerror):
            # asyncio words a refused connect as "Connect call failed (addr)"; the errno says what happened.
            text = os.strerror(cur.errno) if cur.errno else str(cur.strerror)
            return text[0].lower() + text[1:]
        if isinstance(cur, aiohttp.ClientConnectionError | OSError):
            return str(cur) or type(cur).__name__
        cur = cur.__cause__  # only an explicit `raise … from`: a context may be an unrelated handled error
    return None


def as_config_error(path: Path, exc: Exception) -> ConfigError:
    """Any failure to load a YAML file as a ConfigError naming the file (yamlsafe already names a non-UTF-8 byte)."""
    if isinstance(exc, ConfigError):
        return exc
    return ConfigError(path, [f"cannot read the file ({type(exc).__name__}: {exc}); fix it or move it away"])


def scan_user_files(users_dir: Path) -> UsersScan:
    """Every user file parsed, or its error: one file that cannot even be read (not UTF-8, unreadable, a YAML
    parser failure) is that user's problem, never the daemon's, at start or on SIGHUP."""
    return scan_users(users_dir, on_error=lambda path, exc: as_config_error(path, exc))


@dataclass
class _Slot:
    """A user's bot and the task that runs (and restarts) it."""

    cfg: UserConfig
    bot: Bot | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    error: str | None = None
    why: str | None = None  # the error in a few words, for `status` and systemd's STATUS=
    stopping: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    """Owns every bot task; one bad user (file, cookies, crash) never stops the others."""

    def __init__(self, settings: GlobalConfig, store: Store, credentials: CredentialSource, *,
                 clock: Clock | None = None, notify: Notify | None = None, metrics: MetricsSink | None = None,
                 machine: Machine | None = None) -> None:
        self.settings = settings
        self.store = store
        self.credentials = credentials
        self.clock: Clock = clock or SystemClock()
        self.notify = notify
        self.metrics = metrics
        self.machine = machine or build_machine()
        self.price_feeds = PriceFeeds(settings.exchange.market_ws_url, settings.reliability) \
            if settings.exchange.shared_price_stream else None
        self.trade_cache = TradeCache()  # one decode per market frame for all bots on its symbol
        self.depth_cache = DepthCache()  # and one per book frame, with one applied book per update
        self.slots: dict[str, _Slot] = {}
        self.file_errors: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.on_reload: list[Any] = []  # callbacks (e.g. sd_notify RELOADING/READY) around a reload

    # ------------------------------------------------------------ running

    async def run(self, *, install_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        if install_signals:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
        try:
            await self.reload(initial=True)
            await self._stop.wait()
        finally:
            if install_signals:
                for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            await self.stop_all()
            if self.price_feeds is not None:
                await self.price_feeds.close()

    def request_stop(self) -> None:
        logger.info("Stop requested: no new cycles; unfilled BUYs are cancelled")
        self._stop.set()

    async def stop_all(self) -> None:
        names = list(self.slots)
        await asyncio.gather(*(self._stop_user(n, "daemon stopping") for n in names), return_exceptions=True)

    # ------------------------------------------------------------ reload (SIGHUP)

    async def reload(self, *, initial: bool = False) -> dict[str, Any]:
        """Re-read the users directory: start new users, stop removed/disabled ones, hand changed settings to
        running bots (applied at their next cycle boundary); a broken file keeps its old settings running."""
        async with self._reloading():
            summary: dict[str, list[str]] = {"started": [], "stopped": [], "changed": [], "restarted": [],
                                             "errors": []}
            changes: dict[str, dict[str, list[str]]] = {}  # per user, key by key, for the audit trail
            if not initial:
                try:
                    fresh = load_global(self.settings.path)
                    if fresh.database != self.settings.database or fresh.exchange != self.settings.exchange:
                        logger.warning("database and exchange settings change only on restart; kept the old ones")
                    self.settings = fresh if fresh.database == self.settings.database else self.settings
                except ValueError as exc:  # a ConfigError, or a file that is not even UTF-8
                    logger.error("Reload: {} (kept the running settings)", as_config_error(self.settings.path, exc))
            scan = scan_user_files(self.settings.users_dir)
            self.file_errors = {name: str(err) for name, err in scan.errors.items()}
            for name, err in scan.errors.items():
                kept = " (still running with its previous settings)" if name in self.slots else ""
                logger.error("User file rejected{}: {}", kept, err)
                summary["errors"].append(name)
            wanted = {n: c for n, c in scan.users.items() if c.enabled}
            for name in list(self.slots):
                if name in scan.errors:
                    continue  # invalid edit: the old settings keep running
                if name not in wanted:
                    await self._stop_user(name, "removed or disabled in the users directory")
                    summary["stopped"].append(name)
            for name, cfg in wanted.items():
                slot = self.slots.get(name)
                if slot is None:
                    self._start_user(cfg)
                    summary["started"].append(name)
                elif cfg != slot.cfg:
                    old = slot.cfg
                    changes[name] = user_changes(old, cfg)
                    if (cfg.token, cfg.quote, cfg.credentials) != (old.token, old.quote, old.credentials):
                        # A new token or session means new streams: restart that bot alone, gracefully.
                        await self._stop_user(name, "token, quote or credentials changed")
                        self._start_user(cfg)
                        summary["restarted"].append(name)
                    else:
                        slot.cfg = cfg
                        if slot.bot is not None:
                            slot.bot.update_config(cfg)
                        summary["changed"].append(name)
            if not initial:
                now = self.clock.time_ms()
                await self.store.audit(now, None, "reload", json.dumps({"summary": summary}))
                for action, names in summary.items():
                    for n in names:
                        error = self.file_errors.get(n) if action == "errors" else None
                        await self.store.audit(now, n, "reload", reload_record(action, changes.get(n), error))
                logger.info("Reloaded: {}", {k: v for k, v in summary.items() if v} or "no change")
            return {k: v for k, v in summary.items()}

    @contextlib.asynccontextmanager
    async def _reloading(self) -> AsyncIterator[None]:
        """The reload lock, with the on_reload callbacks around it: READY=1 follows RELOADING=1 whatever happens
        in between (a reload that raised used to leave systemd waiting in `reloading` forever)."""
        async with self._reload_lock:
            for cb in self.on_reload:
                cb("reloading")
            try:
                yield
            finally:
                for cb in self.on_reload:
                    cb("ready")

    # ------------------------------------------------------------ one user's task

    def _start_user(self, cfg: UserConfig) -> None:
        slot = _Slot(cfg=cfg)
        self.slots[cfg.name] = slot
        slot.task = asyncio.create_task(self._run_user(slot), name=f"bot-{cfg.name}")

    async def _run_user(self, slot: _Slot) -> None:
        """Run one bot; on a crash log it with the user and restart that bot alone, with capped backoff."""
        name = slot.cfg.name
        log = logger.bind(user=name, cycle="-")
        delay = 1.0
        while not slot.stopping:
            try:
                creds = await self.credentials.get(slot.cfg)
            except Exception as exc:  # missing, undecryptable, unreadable: this user waits for the operator
                slot.error, slot.why = credentials_problem(name, exc)
                log.error("{}: not started: {}", name, slot.error)
                slot.started.set()
                return
            bot = Bot(slot.cfg, self.settings, self.store, creds, self.machine, clock=self.clock,
                      notify=self.notify, metrics=self.metrics, price_feeds=self.price_feeds,
                      trade_cache=self.trade_cache, depth_cache=self.depth_cache)
            slot.bot = bot
            slot.error = slot.why = None
            slot.started.set()
            began = asyncio.get_running_loop().time()
            try:
                await bot.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                slot.restarts += 1
                slot.error = f"{type(exc).__name__}: {exc}"
                if self.metrics is not None:
                    self.metrics.inc("bot_restarts_total", 1.0, user=name)
                if asyncio.get_running_loop().time() - began > 60:
                    delay = 1.0  # it ran fine for a while: this is a new problem, not a crash loop
                wait = delay * random.uniform(0.8, 1.2)
                stopping = slot.stopping or self._stop.is_set()
                reason = unreachable_reason(exc)
                if reason is not None:  # an outage, not a bug: one line per retry, no traceback
                    slot.why = "exchange unreachable"
                    if not stopping:
                        log.warning("{}: cannot reach the exchange at {}: {}; retrying in {:.0f} s", name,
                                    self.settings.exchange.rest_url, reason, wait)
                else:
                    slot.why = "crashed"
                    log.opt(exception=exc).error("Bot crashed ({}){}", slot.error,
                                                 "" if stopping else f"; restarting it in {wait:.0f} s")
                if stopping:
                    return
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=wait)
                    return
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.settings.reliability.bot_restart_backoff_max_s)

    async def _stop_user(self, name: str, why: str) -> None:
        """Ask the bot to stop and wait for its own shutdown (which cancels an unfilled BUY on the exchange);
        only a bot that has not finished within STOP_GRACE_S is cancelled."""
        slot = self.slots.pop(name, None)
        if slot is None or slot.task is None:
            return
        slot.stopping = True
        log = logger.bind(user=name, cycle="-")
        log.info("Stopping bot: {}", why)
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                if slot.bot is not None and not slot.task.done():
                    # Races the task: a bot that dies meanwhile never answers the stop command.
                    stop = asyncio.ensure_future(slot.bot.stop())
                    await asyncio.wait({stop, slot.task}, return_when=asyncio.FIRST_COMPLETED)
                    if not stop.done():
                        stop.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.shield(slot.task)
        except TimeoutError:
            log.warning("Bot did not stop within {:.0f} s; cancelling it", STOP_GRACE_S)
        if not slot.task.done():
            slot.task.cancel()
        with contextlib.suppress(BaseException):
            await slot.task

    # ------------------------------------------------------------ control (ctl socket, health)

    def bot(self, user: str) -> Bot:
        slot = self.slots.get(user)
        if slot is None or slot.bot is None:
            known = ", ".join(sorted(self.slots)) or "none"
            raise KeyError(f"no running bot for user {user!r} (running: {known})")
        return slot.bot

    async def status(self) -> dict[str, Any]:
        users = []
        for name, slot in sorted(self.slots.items()):
            if slot.bot is not None:
                row = _bot_status(slot.bot)
            else:
                row = {"user": name, "state": f"not started ({slot.why})" if slot.why else "not started"}
            row["restarts"] = slot.restarts
            row["error"] = slot.error
            users.append(row)
        return {"users": users, "file_errors": self.file_errors}

    async def pause(self, user: str, reason: str = "operator") -> dict[str, Any]:
        return await self.bot(user).pause(reason)

    async def resume(self, user: str) -> dict[str, Any]:
        slot = self.slots.get(user)
        if slot is not None and slot.bot is not None:
            # Fresh cookies may have been imported since the pause: hand them to the bot first.
            with contextlib.suppress(CredentialsMissing):
                slot.bot.set_credentials(await self.credentials.get(slot.cfg))
        return await self.bot(user).resume()

    async def manual(self, user: str, kind: str) -> dict[str, Any]:
        """ctl cancel / flatten: the bot's report once it is done."""
        return await self.bot(user).manual(kind)

    async def health(self) -> dict[str, Any]:
        users = {}
        ok = True
        for name, slot in self.slots.items():
            bot = slot.bot
            up = bot is not None and bot.stream_up
            state = bot.status()["state"] if bot is not None else "not started"
            users[name] = {"state": state, "user_stream": up,
                           "paused": bot.paused_reason if bot else None, "error": slot.error}
            ok = ok and (up or (bot is not None and bot.paused_reason is not None))
        try:
            await self.store.schema_version()
            db = True
        except Exception:
            db = False
        return {"ok": ok and db, "database": db, "users": users}


def _bot_status(bot: Bot) -> dict[str, Any]:
    """A bot's status row; a bot still restoring its cycle (no state attached yet) reads as `starting`."""
    try:
        return bot.status()
    except AttributeError:
        return {"user": bot.name, "state": "starting", "paused": None}
