"""Credentials encrypted at rest with Fernet; the master key from env, a key file or systemd LoadCredential."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from otobot.exchange.credentials import Credentials

ENV_VAR = "OTOBOT_MASTER_KEY"
SYSTEMD_CREDENTIAL = "otobot-master-key"


class KeyError_(Exception):
    """No usable master key, or a stored blob no configured key can open."""


def load_keys(env: Mapping[str, str], key_file: Path | None, credentials_dir: Path | None) -> list[bytes]:
    """Newest key first. Several keys allow rotation: old blobs still open while `rotate-key` runs."""
    text = env.get(ENV_VAR)
    source = f"${ENV_VAR}"
    if not text and key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as exc:
            raise KeyError_(f"cannot read the master key file {key_file}: {exc.strerror}") from None
        source = str(key_file)
    if not text and credentials_dir is not None and (credentials_dir / SYSTEMD_CREDENTIAL).exists():
        text = (credentials_dir / SYSTEMD_CREDENTIAL).read_text()
        source = "systemd credential " + SYSTEMD_CREDENTIAL
    if not text:
        raise KeyError_(f"no master key: set {ENV_VAR}, or credentials.key_file in otobot.yaml, or install it as "
                        f"the systemd credential {SYSTEMD_CREDENTIAL}; create one with `otobot creds gen-key PATH`")
    keys = [k.strip().encode() for k in text.replace(",", "\n").splitlines() if k.strip()]
    for k in keys:
        try:
            Fernet(k)
        except ValueError:
            raise KeyError_(f"{source} holds a malformed key (expected 32 url-safe base64 bytes)") from None
    return keys


class Keyring:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise KeyError_("no master key configured")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise KeyError_("stored credentials cannot be opened with the configured master key(s)") from None

    def rotate(self, token: bytes) -> bytes:
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise KeyError_("stored credentials cannot be opened with the configured master key(s)") from None


def generate_key_file(path: Path) -> None:
    """A new key in a file created 0600 that must not exist yet (never overwrite a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key() + b"\n")


def encrypt_credentials(keyring: Keyring, credentials: Credentials) -> bytes:
    return keyring.encrypt(json.dumps(credentials.to_json()).encode())


def decrypt_credentials(keyring: Keyring, blob: bytes) -> Credentials:
    return Credentials.from_json(json.loads(keyring.decrypt(blob)))
