"""`otobot run` and `otobot check`: wire config, store, keys, logging, notifications, control and the supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger

from otobot import logsetup
from otobot.commands import keyring_for, socket_path
from otobot.config import ConfigError, load_global, scan_users
from otobot.control import ControlServer
from otobot.exchange.credentials import Credentials
from otobot.health import HealthServer
from otobot.metrics import Metrics
from otobot.notify import Notification, NotifyHub, UserRoutes, build_notifiers
from otobot.redact import Redactor
from otobot.retention import Retention
from otobot.sdnotify import SdNotifier
from otobot.secrets import KeyError_ as MasterKeyMissing
from otobot.secrets import decrypt_credentials
from otobot.store import Store
from otobot.supervisor import CredentialSource, Supervisor
from otobot.tgcommands import telegram_commands


def check(config_path: Path) -> int:
    """Validate everything and print each problem with file, key and fix; 0 only when all is well."""
    problems = 0
    try:
        settings = load_global(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{config_path}: ok")
    if not settings.users_dir.is_dir():
        print(f"{config_path}: users_dir {settings.users_dir} does not exist", file=sys.stderr)
        return 1
    scan = scan_users(settings.users_dir)
    for _name, err in sorted(scan.errors.items()):
        print(err, file=sys.stderr)
        problems += 1
    for _name, cfg in sorted(scan.users.items()):
        print(f"{cfg.path}: ok ({'enabled' if cfg.enabled else 'disabled'}, {cfg.token}, "
              f"{cfg.target.kind} target {cfg.target.value})")
    if not scan.users and not scan.errors:
        print(f"{settings.users_dir}: no user files (*.yaml)", file=sys.stderr)
        problems += 1
    return 1 if problems else 0


class _Control:
    """The control socket's handler: the supervisor's operations as JSON-able dicts."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor

    async def status(self) -> dict[str, Any]:
        return await self.sup.status()

    async def pause(self, user: str, reason: str) -> dict[str, Any]:
        return await self.sup.pause(user, reason or "operator")

    async def resume(self, user: str) -> dict[str, Any]:
        return await self.sup.resume(user)

    async def reload(self) -> dict[str, Any]:
        return await self.sup.reload()

    async def health(self) -> dict[str, Any]:
        return await self.sup.health()


async def run_daemon(config_path: Path, *, env: Mapping[str, str] | None = None) -> int:
    env = env if env is not None else os.environ
    try:
        settings = load_global(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    redactor = Redactor()
    if settings.notify.telegram is not None:
        redactor.add(settings.notify.telegram.bot_token)  # it is in every Bot API URL
    logsetup.setup(settings.log_level, redact=redactor.redact, journal="JOURNAL_STREAM" in env)
    store = await Store.open(settings.database)
    sd = SdNotifier(env)
    try:
        keyring = keyring_for(settings)
    except MasterKeyMissing:
        keyring = None

    def decrypt(blob: bytes) -> Credentials:
        if keyring is None:
            raise MasterKeyMissing("no master key")
        creds = decrypt_credentials(keyring, blob)
        return creds

    async with aiohttp.ClientSession() as notify_session:
        global_notifiers = build_notifiers(notify_session, settings.notify)
        hub = NotifyHub(global_notifiers)
        metrics = Metrics()

        def notify(kind: str, user: str, text: str) -> None:
            hub.notify(Notification(kind=kind, user=user, text=text, data={}))

        source = _RedactingSource(store, decrypt if keyring is not None else None, redactor)
        sup = Supervisor(settings, store, source, notify=notify, metrics=metrics)
        hub.route = UserRoutes(notify_session, global_notifiers,
                               lambda user: sup.slots[user].cfg.notify if user in sup.slots else None)
        commands = telegram_commands(notify_session, settings, sup, store, lambda: sup.settings)
        sup.on_reload.append(lambda phase: sd.reloading() if phase == "reloading" else sd.ready())
        control_server = ControlServer(socket_path(settings), _Control(sup))
        health = HealthServer(sup_health(sup), metrics, port=settings.health_port) if settings.health_port else None
        async with contextlib.AsyncExitStack() as stack:
            await hub.start()
            stack.push_async_callback(hub.stop)
            if commands is not None:
                await commands.start()
                stack.push_async_callback(commands.stop)
            await control_server.start()
            stack.push_async_callback(control_server.stop)
            if health is not None:
                await health.start()
                stack.push_async_callback(health.stop)
            await stack.enter_async_context(Retention(store, settings.retention_days).running())
            watchdog = asyncio.create_task(_watchdog(sd))
            logger.info("otobot started: {} user file(s) in {}, database {}", len(scan_users(settings.users_dir).users),
                        settings.users_dir, settings.database)
            try:
                await sup.run()
            finally:
                sd.stopping()
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
    await store.close()
    logger.info("otobot stopped")
    return 0


def sup_health(sup: Supervisor) -> Any:
    return sup.health


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
