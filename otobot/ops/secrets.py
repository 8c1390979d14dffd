"""Credentials encrypted at rest with Fernet; the master key from env, a key file or systemd LoadCredential."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from otobot.exchange.credentials import Credentials

if TYPE_CHECKING:
    from otobot.config.settings import GlobalConfig

ENV_VAR = "OTOBOT_MASTER_KEY"
SYSTEMD_CREDENTIAL = "otobot-master-key"  # LoadCredential=otobot-master-key:/etc/otobot/master.key
HOW = (f"set {ENV_VAR}, or credentials.key_file in otobot.yaml, or install the key as the systemd credential "
       f"{SYSTEMD_CREDENTIAL} (LoadCredential=); generate one with `otobot creds gen-key PATH`")


class MasterKeyError(Exception):
    """No usable master key is configured."""


class NoMasterKey(MasterKeyError):
    """None of the key sources is configured (as opposed to a configured key that is unreadable or malformed)."""


class DecryptError(MasterKeyError):
    """A stored blob that none of the configured keys can open (wrong key, or corrupted)."""


def load_keys(env: Mapping[str, str], key_file: Path | None, credentials_dir: Path | None) -> list[bytes]:
    """Newest key first; older ones still decrypt, so keys rotate without downtime. Never read from YAML.

    Precedence: `$OTOBOT_MASTER_KEY` (comma-separated), then `key_file` (one key per line, `#` comments),
    then `$CREDENTIALS_DIRECTORY/otobot-master-key` as systemd's LoadCredential= provides it.
    """
    found = _from_env(env) or _from_file(key_file) or _from_systemd(credentials_dir)
    if found is None:
        raise NoMasterKey(f"no master key is configured: {HOW}")
    source, text = found
    keys = [k.strip().encode() for k in text.replace(",", "\n").splitlines()
            if k.strip() and not k.strip().startswith("#")]
    if not keys:
        raise MasterKeyError(f"{source} holds no key: {HOW}")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:  # the message names the position, never the key itself
            raise MasterKeyError(f"key {n} in {source} is malformed (a Fernet key is 32 url-safe base64 bytes, "
                                 "44 characters); generate one with `otobot creds gen-key PATH`") from None
    return keys


def _from_env(env: Mapping[str, str]) -> tuple[str, str] | None:
    text = env.get(ENV_VAR, "")
    return (f"${ENV_VAR}", text) if text.strip() else None


def _from_file(path: Path | None) -> tuple[str, str] | None:
    if path is None:
        return None
    try:
        return str(path), path.read_text(encoding="ascii")
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MasterKeyError(f"the master key file {path} is not a key file (a key is 44 ASCII characters); "
                             "generate one with `otobot creds gen-key PATH`") from None


def _from_systemd(credentials_dir: Path | None) -> tuple[str, str] | None:
    if credentials_dir is None:
        return None
    path = credentials_dir / SYSTEMD_CREDENTIAL
    try:
        return f"systemd credential {SYSTEMD_CREDENTIAL}", path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MasterKeyError(f"cannot read the systemd credential {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MasterKeyError(f"the systemd credential {path} is not a key (a key is 44 ASCII characters)") from None


class Keyring:
    """Encrypts with the newest key; decrypts with any (MultiFernet)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise MasterKeyError(f"no master key is configured: {HOW}")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "Keyring(***)"

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise DecryptError("stored credentials cannot be opened with the configured master key(s): was the "
                               "key replaced without keeping the old one after it?") from None

    def rotate(self, token: bytes) -> bytes:
        """The same plaintext re-encrypted with the newest key (for `otobot creds rotate-key`)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise DecryptError("stored credentials cannot be opened with the configured master key(s), so they "
                               "cannot be rotated") from None


def generate_key_file(path: Path) -> None:
    """A new key in a file born 0600 (no chmod window) that must not exist yet: a key is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise MasterKeyError(f"{path} already exists; a master key is never overwritten (to rotate, put the new "
                             "key on the first line and keep the old one below it)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key() + b"\n")


def encrypt_credentials(keyring: Keyring, credentials: Credentials) -> bytes:
    return keyring.encrypt(json.dumps(credentials.to_json(), sort_keys=True).encode())


def decrypt_credentials(keyring: Keyring, blob: bytes) -> Credentials:
    return Credentials.from_json(json.loads(keyring.decrypt(blob)))


def keyring_for(settings: GlobalConfig) -> Keyring:
    """The master keys from the environment, systemd's credentials directory or the key file."""
    creds_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    return Keyring(load_keys(os.environ, settings.key_file, Path(creds_dir) if creds_dir else None))
