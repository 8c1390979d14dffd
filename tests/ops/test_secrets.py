"""The master key's sources, key rotation, and credentials encrypted at rest."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from otobot.exchange.credentials import Credentials
from otobot.ops.secrets import (
    DecryptError,
    Keyring,
    MasterKeyError,
    decrypt_credentials,
    encrypt_credentials,
    generate_key_file,
    load_keys,
)

CREDS = Credentials(cookie="cr00=SECRETCOOKIE1; p20t=web.42.SECRET", csrftoken="d41d8cd98f00b204e9800998ecf8427e",
                    headers={"device-info": "eyJ4IjoxfQ==", "user-agent": "Mozilla/5.0"})


def test_generated_key_file_is_born_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    old_umask = os.umask(0o022)  # a permissive umask must not widen the key file
    try:
        generate_key_file(path)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes().strip()
    Fernet(key)  # a valid key
    with pytest.raises(MasterKeyError, match="already exists; a master key is never overwritten"):
        generate_key_file(path)
    assert path.read_bytes().strip() == key


def test_env_var_wins_and_holds_several_keys_newest_first(tmp_path: Path) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    key_file = tmp_path / "master.key"
    key_file.write_bytes(Fernet.generate_key())

    keys = load_keys({"OTOBOT_MASTER_KEY": f"{new.decode()}, {old.decode()}"}, key_file, None)

    assert keys == [new, old]


def test_key_file_one_key_per_line_with_comments(tmp_path: Path) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    key_file = tmp_path / "master.key"
    key_file.write_text(f"# rotated 2026-05-01\n{new.decode()}\n\n{old.decode()}\n")

    assert load_keys({}, key_file, tmp_path) == [new, old]


def test_systemd_credentials_directory_is_the_last_resort(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    (tmp_path / "otobot-master-key").write_bytes(key + b"\n")

    assert load_keys({"OTHER": "x"}, None, tmp_path) == [key]


def test_no_key_anywhere_says_how_to_configure_one(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError) as err:
        load_keys({}, None, tmp_path)

    message = str(err.value)
    assert "set OTOBOT_MASTER_KEY" in message and "key_file" in message and "otobot creds gen-key" in message


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match=f"cannot read the master key file {tmp_path / 'missing.key'}"):
        load_keys({}, tmp_path / "missing.key", None)


def test_malformed_key_is_reported_by_position_without_echoing_it() -> None:
    good = Fernet.generate_key().decode()

    with pytest.raises(MasterKeyError) as err:
        load_keys({"OTOBOT_MASTER_KEY": f"{good},not-a-real-key-value"}, None, None)

    assert "key 2 in $OTOBOT_MASTER_KEY is malformed" in str(err.value)
    assert "not-a-real-key-value" not in str(err.value)


def test_credentials_round_trip_and_the_blob_hides_them() -> None:
    keyring = Keyring([Fernet.generate_key()])

    blob = encrypt_credentials(keyring, CREDS)

    assert b"SECRETCOOKIE1" not in blob and CREDS.csrftoken.encode() not in blob
    assert decrypt_credentials(keyring, blob) == CREDS


def test_rotation_old_blobs_open_with_the_old_key_listed_second_and_rotate_to_the_new() -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    blob = encrypt_credentials(Keyring([old_key]), CREDS)

    both = Keyring([new_key, old_key])
    assert decrypt_credentials(both, blob) == CREDS
    rotated = both.rotate(blob)

    assert decrypt_credentials(Keyring([new_key]), rotated) == CREDS
    with pytest.raises(DecryptError):
        Keyring([old_key]).decrypt(rotated)


def test_wrong_key_is_a_clear_error_not_a_crypto_traceback() -> None:
    blob = Keyring([Fernet.generate_key()]).encrypt(b"payload")

    with pytest.raises(DecryptError, match="cannot be opened with the configured master key"):
        Keyring([Fernet.generate_key()]).decrypt(blob)
    with pytest.raises(MasterKeyError):  # DecryptError is a MasterKeyError: one except covers both
        Keyring([Fernet.generate_key()]).rotate(blob)


def test_empty_keyring_is_refused() -> None:
    with pytest.raises(MasterKeyError, match="no master key is configured"):
        Keyring([])


def test_keyring_repr_shows_no_key() -> None:
    key = Fernet.generate_key()

    assert key.decode() not in repr(Keyring([key]))
