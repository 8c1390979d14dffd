"""The supervisor's reading of what went wrong: an outage vs a crash, a credentials problem, a broken user file."""

from __future__ import annotations

import errno
from pathlib import Path

import aiohttp
import pytest
import yaml

from otobot.daemon.supervisor import CredentialsMissing, credentials_problem, scan_user_files, unreachable_reason
from otobot.exchange.errors import BusinessError, ServerError
from otobot.ops.secrets import DecryptError, MasterKeyError
from tests.helpers import FAST_USER


def _refused() -> ServerError:
    """What rest.py raises for a refused connect: ServerError from ClientConnectorError from the OSError."""
    os_error = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    try:
        try:
            raise aiohttp.ClientConnectorError(key, os_error)
        except aiohttp.ClientConnectorError as inner:
            raise ServerError("cannot connect to http://127.0.0.1:9: refused") from inner
    except ServerError as outer:
        return outer


def _chained(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


def _handled_while(exc: Exception, context: BaseException) -> Exception:
    exc.__context__ = context  # raised inside an `except`, without `from`: not its cause
    return exc


@pytest.mark.parametrize(("exc", "reason"), [
    (_refused(), "connection refused"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "connection reset by peer"),
    (_chained(ServerError("/bapi/x timed out"), TimeoutError()), "timed out"),
    (aiohttp.ServerDisconnectedError(), "Server disconnected"),
    (_chained(ServerError("dns"), OSError(errno.EHOSTUNREACH, "No route to host")), "no route to host"),
    (BusinessError("illegal parameter", code="000002"), None),
    (KeyError("working"), None),
    (_handled_while(AttributeError("a bug"), ConnectionResetError(errno.ECONNRESET, "reset")), None),
])
def test_an_outage_is_told_apart_from_a_crash(exc: Exception, reason: str | None) -> None:
    assert unreachable_reason(exc) == reason


def test_a_wrong_master_key_names_the_user_and_both_fixes() -> None:
    message, short = credentials_problem("alice", DecryptError("stored credentials cannot be opened with the "
                                                              "configured master key(s)"))

    assert short == "wrong master key"
    assert message.startswith("stored credentials cannot be opened with the configured master key(s); set the "
                              "master key alice's session was imported with")
    assert message.endswith("or import the session again with `otobot creds import alice`")


@pytest.mark.parametrize(("exc", "short"), [
    (CredentialsMissing("no stored credentials for bob: run `otobot creds import bob`"), "no credentials"),
    (CredentialsMissing("stored encrypted but no master key is set", "no master key"), "no master key"),
    (MasterKeyError("key 1 in $OTOBOT_MASTER_KEY is malformed"), "master key problem"),
    (ValueError("Extra data: line 1 column 5"), "credentials unreadable"),
])
def test_every_credentials_problem_has_a_short_reason_for_status(exc: Exception, short: str) -> None:
    message, got = credentials_problem("bob", exc)

    assert got == short and str(exc) in message


def test_a_user_file_that_is_not_utf8_is_that_users_error_only(tmp_path: Path) -> None:
    (tmp_path / "alice.yaml").write_text(yaml.safe_dump({**FAST_USER, "credentials": {"source": "inline",
                                                         "cookie": "p20t=abcdefgh", "csrftoken": "c" * 32}}))
    (tmp_path / "bob.yaml").write_bytes(b"token: KOGE\r\n# \xc3\x28 broken\n")
    (tmp_path / "carol.yaml").write_text("token: [unclosed\n")

    scan = scan_user_files(tmp_path)

    assert list(scan.users) == ["alice"]
    assert str(scan.errors["bob"]) == f"{tmp_path / 'bob.yaml'}: line 2, column 3: byte 0xc3 is not " \
                                      "UTF-8 text; save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    assert "not valid YAML" in str(scan.errors["carol"])
