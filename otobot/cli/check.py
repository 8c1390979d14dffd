"""`otobot check`: the daemon's file, every user file and, when the master key is at hand, every stored session."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from otobot.config.settings import ConfigError, GlobalConfig, UserConfig, is_binance_url, load_global, scan_users
from otobot.ops.secrets import Keyring, MasterKeyError, NoMasterKey, decrypt_credentials, load_keys
from otobot.store.dbfile import DatabaseUnreadable
from otobot.store.opening import open_existing


def check(config_path: Path, env: Mapping[str, str] | None = None, out: TextIO | None = None,
          err: TextIO | None = None) -> int:
    """Print `FILE: ok` lines on stdout and one paragraph per problem on stderr; 0 only when all is well."""
    return asyncio.run(_check(config_path, os.environ if env is None else env, out or sys.stdout, err or sys.stderr))


async def _check(config_path: Path, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    def problem(text: str) -> None:
        err.write(text + "\n")

    try:
        settings = load_global(config_path)
    except ConfigError as exc:
        problem(str(exc))
        return 1
    real = is_binance_url(settings.exchange.rest_url)
    out.write(f"{config_path}: ok (exchange {settings.exchange.rest_url}{', REAL money' if real else ''})\n")
    users_dir = settings.users_dir
    if not users_dir.is_dir():
        what = "is not a folder" if users_dir.exists() else "does not exist"
        problem(f"{config_path}: key 'users_dir' points at {users_dir}, which {what}; create the folder and put "
                "one NAME.yaml per user in it (config/users/alice.yaml is an example), or correct users_dir")
        return 1
    scan = scan_users(users_dir)
    problems = len(scan.errors)
    for _name, error in sorted(scan.errors.items()):
        problem(str(error))
    for _name, cfg in sorted(scan.users.items()):
        out.write(f"{cfg.path}: ok ({'enabled' if cfg.enabled else 'disabled'}, {cfg.token}, "
                  f"{cfg.target.kind} target {cfg.target.value})\n")
    if not scan.users and not scan.errors:
        problem(f"{users_dir}: no user file (NAME.yaml) in the users folder, so the daemon would trade for nobody; "
                "add one file per user (config/users/alice.yaml is an example)")
        problems += 1
    stored = [cfg for cfg in scan.users.values() if cfg.enabled and cfg.credentials is None]
    if stored:
        problems += await _check_sessions(settings, env, stored, out, problem)
    return 1 if problems else 0


async def _check_sessions(settings: GlobalConfig, env: Mapping[str, str], users: list[UserConfig], out: TextIO,
                          problem: Callable[[str], None]) -> int:
    """Each user whose session lives in the database has one, and it opens with the configured master key."""
    creds_dir = env.get("CREDENTIALS_DIRECTORY")
    try:
        keyring: Keyring | None = Keyring(load_keys(env, settings.key_file, Path(creds_dir) if creds_dir else None))
    except NoMasterKey:
        keyring = None  # e.g. the key reaches only the service through LoadCredential=: not a config problem
        out.write("stored sessions: not decrypted (no master key here: set OTOBOT_MASTER_KEY or "
                  "credentials.key_file to check them too)\n")
    except MasterKeyError as exc:
        problem(f"{settings.path}: {exc}")
        return 1
    if not settings.database.exists():
        for cfg in users:
            problem(f"{cfg.path}: user {cfg.name} takes the session from the database, but there is no database yet "
                    f"({settings.database}); run `otobot creds import {cfg.name}`")
        return len(users)
    try:
        store = await open_existing(settings.database)
    except DatabaseUnreadable as exc:
        problem(str(exc))
        return 1
    found = 0
    try:
        for cfg in sorted(users, key=lambda c: c.name):
            blob = await store.load_credentials(cfg.name)
            if blob is None:
                problem(f"{cfg.path}: user {cfg.name} has no stored session; run `otobot creds import {cfg.name}` "
                        "(or set `credentials: {source: inline, ...}` for the simulator)")
                found += 1
            elif keyring is not None:
                try:
                    decrypt_credentials(keyring, blob)
                except MasterKeyError as exc:
                    problem(f"{cfg.path}: user {cfg.name}: {exc} Import the session again with `otobot creds import "
                            f"{cfg.name}`, or put the old key back after the new one")
                    found += 1
                except (ValueError, KeyError, TypeError):
                    problem(f"{cfg.path}: user {cfg.name}: the stored session decrypts but is not a session; "
                            f"import it again with `otobot creds import {cfg.name}`")
                    found += 1
                else:
                    out.write(f"{cfg.name}: stored session opens with the master key\n")
    finally:
        await store.close()
    return found
