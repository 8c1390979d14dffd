"""What every one-shot command shares: output, the operator's problem, a user's file and stored session."""

from __future__ import annotations

import json
import sys
from typing import Any

from otobot.config.settings import ConfigError, GlobalConfig, UserConfig, load_user, user_files
from otobot.exchange.credentials import Credentials
from otobot.ops.secrets import decrypt_credentials, keyring_for
from otobot.store.db import Store


class CommandProblem(Exception):
    """Something the operator can fix (an unknown user, a missing session): one paragraph on stderr, exit 1."""


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def out_json(data: Any) -> None:
    out(json.dumps(data, indent=2, default=str))


def user_config(settings: GlobalConfig, user: str) -> UserConfig:
    for path in user_files(settings.users_dir):
        if path.stem == user:
            return load_user(path)
    raise ConfigError(settings.users_dir, [f"no user file {user}.yaml; create it (config/users/alice.yaml is an "
                                           "example)"])


async def user_credentials(settings: GlobalConfig, store: Store, cfg: UserConfig) -> Credentials:
    """The user's session: inline in the file (simulator) or decrypted from the database."""
    if cfg.credentials is not None:
        return cfg.credentials
    blob = await store.load_credentials(cfg.name)
    if blob is None:
        raise ConfigError(cfg.path, [f"no stored session for {cfg.name}: run `otobot creds import {cfg.name}`"])
    return decrypt_credentials(keyring_for(settings), blob)
