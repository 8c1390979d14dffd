"""`otobot run`: wire config, store, keys, logging, notifications, control and the supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger

from otobot.config.settings import GlobalConfig, load_global, user_files
from otobot.daemon.supervisor import CredentialsMissing, CredentialSource, Supervisor, as_config_error
from otobot.exchange.credentials import Credentials
from otobot.ops import logsetup
from otobot.ops.control import MAX_PATH_BYTES, ControlServer, ControlSocketBusy, socket_path
from otobot.ops.health import AddRoutes, HealthServer
from otobot.ops.longwait import LongWaits
from otobot.ops.metrics import Metrics
from otobot.ops.notify import Notification, NotifyHub, UserRoutes, build_notifiers
from otobot.ops.redact import Redactor
from otobot.ops.sdnotify import SdNotifier, status_text
from otobot.ops.secrets import MasterKeyError, decrypt_credentials, keyring_for
from otobot.ops.tgcommands import telegram_commands
from otobot.ops.tgoutbox import TelegramChats
from otobot.store.db import Store
from otobot.store.dbfile import DatabaseLocked, DatabaseUnreadable, DbLock
from otobot.store.retention import Retention
from otobot.views.summary import DailySummary, live_of
from otobot.web.app import Dashboard
from otobot.web.tape import PriceTape


class _Control:
    """The control socket's handler: the supervisor's operations as JSON-able dicts."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self.telegram: Any = None  # the command poller, once started: its health shows in status and /health

    async def status(self) -> dict[str, Any]:
        status = await self.sup.status()
        if self.telegram is not None:
            status["telegram"] = self.telegram.health()
        return status

    async def pause(self, user: str, reason: str) -> dict[str, Any]:
        return await self.sup.pause(user, reason or "operator")

    async def resume(self, user: str) -> dict[str, Any]:
        return await self.sup.resume(user)

    async def reload(self) -> dict[str, Any]:
        return await self.sup.reload()

    async def manual(self, user: str, kind: str) -> dict[str, Any]:
        return await self.sup.manual(user, kind)

    async def health(self) -> dict[str, Any]:
        health = await self.sup.health()
        if self.telegram is not None:
            # Shown, not counted in `ok`: trading goes on without Telegram, and a 503 would get a healthy daemon
            # restarted by a watchdog over a revoked bot token.
            health["telegram"] = self.telegram.health()
        return health


GC_THRESHOLDS = (50_000, 20, 20)  # young objects before a collection (default 700), then generations 1 and 2


def freeze_startup_heap() -> None:
    """Once, before the bots start: the garbage collector set for a process that allocates fast and keeps little.

    The ~100k objects of startup (modules, classes, settings) live as long as the process: frozen, the collector
    stops scanning them. The bots allocate a few objects per websocket frame, nearly all freed by refcounting at
    once; with the default threshold (700) a collection ran every few hundred frames and promoted whatever was in
    flight, so full collections came often and walked every bot's objects. Measured at 1,000 users (bench, pause
    1 s): GC pauses took 10.7 s of a 19 s window (longest 459 ms) with the defaults, 17 pauses (longest 98 ms) with
    these, and the daemon went from 197 to 277 cycles/s at 5.0 → 2.9 ms of CPU per cycle."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_daemon(config_path: Path, *, env: Mapping[str, str] | None = None,
                     started: Callable[[Supervisor], None] | None = None) -> int:
    """Run until SIGTERM: 0 after a clean stop, 1 when start-up failed (one line saying what and how to fix it),
    2 for a config file that does not load. Every resource opened is closed on every path, so a failure
    never leaves the process hanging (the aiosqlite thread alone would keep it alive). `started` is called with the
    supervisor once everything is up (the soak bench's sampler hooks in there)."""
    env = env if env is not None else os.environ
    redactor = Redactor()
    logsetup.setup("INFO", redact=redactor.redact, env=env)  # until the config names the level
    logsetup.install_asyncio_handler(asyncio.get_running_loop())
    try:
        settings = load_global(config_path)
    except ValueError as exc:  # a ConfigError, or a file that is not even UTF-8
        logger.error("otobot cannot start: {}", as_config_error(config_path, exc))
        return 2
    if settings.notify.telegram is not None:
        redactor.add(settings.notify.telegram.bot_token)  # it is in every Bot API URL
    if settings.web_token:
        redactor.add(settings.web_token)
    logsetup.setup(settings.log_level, redact=redactor.redact, env=env)
    if settings.paper_market:  # issue #25: every log reader learns at once that these figures are not real
        logger.warning("PAPER run: virtual money on a simulator mirroring {}; no order reaches the exchange",
                       settings.paper_market)
    sd = SdNotifier(env)
    try:
        await _serve(settings, redactor, sd, started)
    except StartupFailed as exc:
        logger.error("otobot cannot start: {}", exc)
        return 1
    except Exception as exc:  # a bug: its traceback, as one entry, and a clean exit rather than a hang
        logger.opt(exception=exc).critical("otobot stopped on an unexpected error: {}: {}", type(exc).__name__, exc)
        return 1
    finally:
        sd.stopping()
    logger.info("otobot stopped")
    return 0


class StartupFailed(Exception):
    """Something the daemon needs at start (lock, database, socket, port) is not to be had; says what to do."""


async def _serve(settings: GlobalConfig, redactor: Redactor, sd: SdNotifier,
                 started: Callable[[Supervisor], None] | None = None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            lock = DbLock.acquire(settings.database)
            stack.callback(lock.release)
            store = await Store.open(settings.database)
        except (DatabaseLocked, DatabaseUnreadable) as exc:
            raise StartupFailed(str(exc)) from None
        stack.push_async_callback(store.close)
        await _convert_for_reclaim(store, settings, sd)
        decrypt = _decrypter(settings)
        notify_session = await stack.enter_async_context(aiohttp.ClientSession())
        chats = TelegramChats()  # one paced outbox per Telegram chat, whoever notifies it
        stack.push_async_callback(chats.close)  # after the hub has handed over what it held
        global_notifiers = build_notifiers(notify_session, settings.notify, chats)
        hub = NotifyHub(global_notifiers)
        metrics = Metrics()

        paper = f"PAPER (virtual money, market of {settings.paper_market}): " if settings.paper_market else ""

        def notify(kind: str, user: str, text: str) -> None:
            hub.notify(Notification(kind=kind, user=user, text=paper + text, data={}))  # #25: never passes for real

        sup = Supervisor(settings, store, _RedactingSource(store, decrypt, redactor), notify=notify, metrics=metrics)
        hub.route = UserRoutes(notify_session, global_notifiers,
                               lambda user: sup.slots[user].cfg.notify if user in sup.slots else None, chats)
        sup.on_reload.append(lambda phase: sd.reloading() if phase == "reloading" else sd.ready())
        control = _Control(sup)
        await _start_control(stack, ControlServer(socket_path(settings), control))
        if settings.health_port:
            await _start_health(stack, HealthServer(control.health, metrics, port=settings.health_port,
                                                    host=settings.web_bind, token=settings.web_token,
                                                    routes=dashboard_routes(settings, store, sup)))
        await hub.start()
        stack.push_async_callback(hub.stop)
        commands = telegram_commands(notify_session, settings, sup, store, lambda: sup.settings, chats)
        if commands is not None:
            await commands.start()
            stack.push_async_callback(commands.stop)
            control.telegram = commands
        await stack.enter_async_context(Retention(store, settings.retention_days).running())
        daily = DailySummary(store, lambda: sup.settings, notify,
                             lambda user: live_of(sup.slots[user].bot if user in sup.slots else None))
        waits = LongWaits(sup.status, notify, lambda: sup.settings.notify.long_wait_s)
        tasks = [asyncio.create_task(_watchdog(sd), name="sd-watchdog"),
                 asyncio.create_task(daily.run(), name="daily-summary"),
                 asyncio.create_task(waits.run(), name="long-waits")]
        if sd.enabled:
            tasks.append(asyncio.create_task(_report_status(sd, control), name="sd-status"))
        freeze_startup_heap()  # before the "started" line: signal handlers follow that line at once
        logger.info("otobot started: {} user file(s) in {}, database {}, event loop {}",
                    len(user_files(settings.users_dir)), settings.users_dir, settings.database,
                    type(asyncio.get_running_loop()).__module__.split(".")[0])
        if started is not None:
            started(sup)
        try:
            await sup.run()
        finally:
            sd.status("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def dashboard_routes(settings: GlobalConfig, store: Store, sup: Supervisor) -> list[AddRoutes]:
    """The dashboard's routes for the health server (issue 22), and the price tape its chart reads: the tape is
    the supervisor's trade cache, so it sees every trade the bots decode at one append per second per symbol."""
    if not settings.dashboard:
        return []
    tape = PriceTape()
    sup.trade_cache = tape
    if sup.price_feeds is not None:  # exchange.shared_price_stream: one socket per symbol decodes each frame
        sup.price_feeds.trade_cache = tape
    dashboard = Dashboard(store, lambda: sup.settings, sup.status, tape, loopback_names_only=not settings.web_token)
    return [dashboard.add_routes]


async def _convert_for_reclaim(store: Store, settings: GlobalConfig, sd: SdNotifier) -> None:
    """Once per database made before issue 24: the VACUUM that lets retention give pruned space back, before any
    bot writes. It rewrites the file (~1 min a GB), so systemd is told to wait rather than kill the start."""
    if await store.reclaims_space():
        return
    size_mb = settings.database.stat().st_size / 1e6
    sd.notify(f"EXTEND_TIMEOUT_USEC={int((120 + size_mb * 0.2) * 1e6)}")
    sd.status(f"converting the database ({size_mb:.0f} MB) so pruning gives space back; once")
    started = time.monotonic()
    try:
        if await store.convert_for_reclaim():
            logger.info("Database converted to incremental auto_vacuum in {:.1f} s ({:.0f} MB → {:.0f} MB): pruned "
                        "space now goes back to the disk", time.monotonic() - started, size_mb,
                        settings.database.stat().st_size / 1e6)
    except sqlite3.Error as exc:  # most likely a full disk: the VACUUM needs the file's size free
        logger.warning("Database not converted to incremental auto_vacuum ({}); pruned space stays in the file "
                       "for reuse. It needs about {:.0f} MB free next to the file; the next start tries again",
                       exc, size_mb)


async def _start_control(stack: contextlib.AsyncExitStack, server: ControlServer) -> None:
    try:
        await server.start()
    except ControlSocketBusy as exc:
        raise StartupFailed(f"{exc}; stop it first (systemctl stop otobot), or give this one its own "
                            "control.socket and database in otobot.yaml") from None
    except ValueError:  # the only one start() raises: a path longer than sockaddr_un holds
        raise StartupFailed(f"the control socket path {server.path} is {len(os.fsencode(server.path))} bytes, longer "
                            f"than the {MAX_PATH_BYTES} a Unix socket allows; set control.socket in otobot.yaml to a "
                            "shorter path (e.g. /run/otobot/otobot.sock)") from None
    except OSError as exc:
        raise StartupFailed(f"cannot open the control socket {server.path}: {_why(exc)}; check that its folder is "
                            "writable by the daemon's user, or set control.socket in otobot.yaml") from None
    stack.push_async_callback(server.stop)  # only once it is ours: stop() unlinks the path


async def _start_health(stack: contextlib.AsyncExitStack, server: HealthServer) -> None:
    stack.push_async_callback(server.stop)  # a half-started server (set up, not bound) is cleaned up too
    try:
        await server.start()
    except OSError as exc:
        raise StartupFailed(f"cannot listen on {server.host}:{server.port} for the health endpoint: {_why(exc)}; "
                            "if another program holds that port, set a free control.health_port in otobot.yaml, or "
                            "remove it to turn the endpoint off") from None


def _why(exc: OSError) -> str:
    """`address already in use`, not aiohttp's `error while attempting to bind on address (...)`."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def _decrypter(settings: GlobalConfig) -> Callable[[bytes], Credentials]:
    """Stored sessions → Credentials; without a usable master key, each user fails alone with the key's problem."""
    try:
        keyring = keyring_for(settings)
    except MasterKeyError as exc:
        problem = exc

        def no_key(blob: bytes) -> Credentials:
            # The key is missing, unreadable or malformed: say so for each user who needs it, not once for all.
            raise CredentialsMissing(f"the stored session is encrypted and {problem}", "no usable master key")

        return no_key
    return partial(decrypt_credentials, keyring)


async def _report_status(sd: SdNotifier, control: _Control, every_s: float = 2.0) -> None:
    """STATUS= for `systemctl status` (`3 users: 2 trading, 1 paused auth_expired`), sent when it changes."""
    while True:
        try:
            status = await control.status()
            text = status_text(status["users"], len(status["file_errors"]))
            problem = (status.get("telegram") or {}).get("problem")
            sd.status(f"{text}; Telegram commands failing: {str(problem)[:120]}" if problem else text)
        except Exception as exc:  # a status is cosmetic: never let it take the daemon down
            logger.debug("STATUS= not updated: {}", exc)
        await asyncio.sleep(every_s)


class _RedactingSource(CredentialSource):
    """Every session the daemon loads is added to the log redactor before any bot can log a thing."""

    def __init__(self, store: Store, decrypt: Any, redactor: Redactor) -> None:
        super().__init__(store, decrypt)
        self.redactor = redactor

    async def get(self, cfg: Any) -> Credentials:
        creds = await super().get(cfg)
        for secret in creds.secrets():
            self.redactor.add(secret)
        return creds


async def _watchdog(sd: SdNotifier) -> None:
    interval = sd.watchdog_interval_s()
    if interval is None:
        return
    while True:
        sd.watchdog()
        await asyncio.sleep(interval)
