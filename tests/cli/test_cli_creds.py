"""`otobot creds …` as a process: bad input is refused before anything is sent or stored, and never with a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.cli.clirun import otobot, refused
from tests.helpers import write_config

KEY = Fernet.generate_key().decode()
CSRF = "d41d8cd98f00b204e9800998ecf8427e"
CURL = (f"curl 'https://www.binance.com/bapi/asset/v1/private/alpha-trade/oto-order/place' -H 'csrftoken: {CSRF}' "
        "-b 'p20t=web.1.ABCDEF; logined=y' --data-raw '{}'")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nobody listens on: a request sent there fails, so a message about it would betray a request."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def offline_config(root: Path, port: int) -> Path:
    (root / "users").mkdir(parents=True, exist_ok=True)
    (root / "users" / "alice.yaml").write_text("token: KOGE\n")
    base = f"127.0.0.1:{port}"
    (root / "otobot.yaml").write_text(
        f"exchange: {{rest_url: 'http://{base}', market_ws_url: 'ws://{base}/w3w/wsa/stream', "
        f"user_ws_url: 'ws://{base}/w3w/stream'}}\n")
    return root / "otobot.yaml"


async def test_import_without_a_master_key_says_how_to_set_one_before_any_request(tmp_path: Path,
                                                                                  closed_port: int) -> None:
    config = offline_config(tmp_path, closed_port)
    err = refused(await otobot("creds", "-c", str(config), "import", "alice", stdin=CURL.encode()), 1,
                  "no master key is configured", "OTOBOT_MASTER_KEY", "otobot creds gen-key")
    assert "could not reach" not in err and "logged in" not in err  # no login check was attempted
    assert not (tmp_path / "otobot.db").exists()


async def test_five_megabytes_of_input_are_refused_at_once(tmp_path: Path, closed_port: int) -> None:
    config = offline_config(tmp_path, closed_port)
    big = CURL.replace("logined=y", "logined=y; junk=" + "x" * 5_000_000).encode()
    r = await otobot("creds", "-c", str(config), "import", "alice", stdin=big, env={"OTOBOT_MASTER_KEY": KEY},
                     timeout=20)
    refused(r, 1, "standard input", "more than 1024 KiB", "Copy as cURL")
    (tmp_path / "big.txt").write_bytes(big)
    refused(await otobot("creds", "-c", str(config), "import", "alice", "--file", str(tmp_path / "big.txt"),
                         env={"OTOBOT_MASTER_KEY": KEY}), 1, "big.txt", "more than 1024 KiB")


async def test_a_cookie_of_almost_a_megabyte_parses_in_linear_time(tmp_path: Path, closed_port: int) -> None:
    config = offline_config(tmp_path, closed_port)
    text = CURL.replace("logined=y", "logined=y; junk=" + "x" * 1_000_000).encode()
    r = await otobot("creds", "-c", str(config), "import", "alice", "--no-check", stdin=text,
                     env={"OTOBOT_MASTER_KEY": KEY}, timeout=20)
    assert r.code == 0, r.err
    assert "stored encrypted credentials for alice" in r.out


@pytest.mark.parametrize("name", ["../../etc/x", "Alice", "a b", "-rf", "x" * 33, ""])
async def test_a_user_name_that_is_not_a_name_is_a_usage_error(tmp_path: Path, closed_port: int, name: str) -> None:
    config = offline_config(tmp_path, closed_port)
    refused(await otobot("creds", "-c", str(config), "import", "--", name, stdin=CURL.encode(),
                         env={"OTOBOT_MASTER_KEY": KEY}), 2, "is not a user name", "lowercase letters")
    assert not (tmp_path / "otobot.db").exists()


@pytest.mark.parametrize(("file", "words"), [
    ("missing.txt", ("missing.txt", "cannot read the cURL text", "No such file")),
    ("", ("is a folder", "--file")),
])
async def test_a_file_that_is_missing_or_a_folder_is_named(tmp_path: Path, closed_port: int, file: str,
                                                          words: tuple[str, ...]) -> None:
    config = offline_config(tmp_path, closed_port)
    refused(await otobot("creds", "-c", str(config), "import", "alice", "--file", str(tmp_path / file),
                         env={"OTOBOT_MASTER_KEY": KEY}), 1, *words)


@pytest.mark.parametrize(("stdin", "words"), [
    (b"fetch('https://www.binance.com/x')", ("standard input", "does not start with `curl`", "Copy as cURL")),
    (CURL.split("logined")[0].encode(), ("standard input", "not closed", "cut short")),
    (b"curl 'https://www.binance.com/x' -b 'p20t=caf\xe9'", ("standard input", "not UTF-8")),
    (CURL.replace(f"-H 'csrftoken: {CSRF}'", "").encode(), ("no csrftoken header",)),
])
async def test_a_bad_paste_is_refused_with_what_to_copy(tmp_path: Path, closed_port: int, stdin: bytes,
                                                        words: tuple[str, ...]) -> None:
    config = offline_config(tmp_path, closed_port)
    refused(await otobot("creds", "-c", str(config), "import", "alice", stdin=stdin, env={"OTOBOT_MASTER_KEY": KEY}),
            1, *words)


@pytest.mark.parametrize(("env_key", "key_file", "words"), [
    ("not-a-fernet-key", None, ("key 1 in $OTOBOT_MASTER_KEY is malformed", "otobot creds gen-key")),
    ("", "folder", ("cannot read the master key file", "Is a directory")),
    ("", "latin1", ("is not a key file", "otobot creds gen-key")),
])
async def test_a_malformed_or_unreadable_key_is_named_without_showing_it(tmp_path: Path, closed_port: int,
                                                                         env_key: str, key_file: str | None,
                                                                         words: tuple[str, ...]) -> None:
    config = offline_config(tmp_path, closed_port)
    if key_file == "folder":
        (tmp_path / "keys").mkdir()
        config.write_text(config.read_text() + "credentials: {key_file: keys}\n")
    elif key_file == "latin1":
        (tmp_path / "master.key").write_bytes(b"cl\xe9\n")
        config.write_text(config.read_text() + "credentials: {key_file: master.key}\n")
    err = refused(await otobot("creds", "-c", str(config), "import", "alice", stdin=CURL.encode(),
                               env={"OTOBOT_MASTER_KEY": env_key}), 1, *words)
    assert "not-a-fernet-key" not in err


async def test_gen_key_never_overwrites_a_key_and_needs_no_config(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    r = await otobot("creds", "gen-key", str(key), cwd=tmp_path)  # no config anywhere: a first install
    assert r.code == 0 and oct(key.stat().st_mode & 0o777) == "0o600", r.err
    before = key.read_bytes()
    refused(await otobot("creds", "gen-key", str(key), cwd=tmp_path), 1, str(key), "already exists",
            "never overwritten")
    assert key.read_bytes() == before
    refused(await otobot("creds", "gen-key", str(tmp_path / "master.key" / "sub.key"), cwd=tmp_path), 1,
            "cannot create the key file")


async def test_import_from_another_host_warns_and_a_real_import_stores_it_encrypted(tmp_path: Path,
                                                                                   sim: Simulator) -> None:
    config = write_config(tmp_path, sim, {})
    (tmp_path / "users" / "alice.yaml").write_text("token: KOGE\n")
    creds = sim.credentials("alice")
    curl = (f"curl '{sim.rest_url}/bapi/asset/v1/private/alpha-trade/oto-order/place' -H 'csrftoken: "
            f"{creds.csrftoken}' -b '{creds.cookie}' --data-raw '{{}}'")
    r = await otobot("creds", "import", "alice", "-c", str(config), stdin=curl.encode(),
                     env={"OTOBOT_MASTER_KEY": KEY})
    assert r.code == 0, r.err
    assert "warning: the cURL was sent to '127.0.0.1', not binance.com" in r.err and "Traceback" not in r.err
    store = await Store.open(tmp_path / "otobot.db")
    try:
        blob = await store.load_credentials("alice")
    finally:
        await store.close()
    assert blob is not None and creds.csrftoken.encode() not in blob
    # Cookies that are not logged in are refused, and nothing replaces the good session.
    r = await otobot("creds", "import", "alice", "-c", str(config), stdin=curl.replace("sim-session", "x").encode(),
                     env={"OTOBOT_MASTER_KEY": KEY})
    refused(r, 1, "alice: these cookies are not logged in", "nothing stored")
    r = await otobot("creds", "check", "-c", str(config), env={"OTOBOT_MASTER_KEY": KEY})
    assert r.code == 0 and "alice: logged in" in r.out, r.out + r.err


async def test_rotate_key_reports_a_session_no_key_opens(tmp_path: Path, sim: Simulator) -> None:
    config = write_config(tmp_path, sim, {})
    creds = sim.credentials("alice")
    curl = f"curl '{sim.rest_url}/x' -H 'csrftoken: {creds.csrftoken}' -b '{creds.cookie}'"
    r = await otobot("creds", "import", "alice", "--no-check", "-c", str(config), stdin=curl.encode(),
                     env={"OTOBOT_MASTER_KEY": KEY})
    assert r.code == 0, r.err
    other = Fernet.generate_key().decode()
    refused(await otobot("creds", "rotate-key", "-c", str(config), env={"OTOBOT_MASTER_KEY": other}), 1,
            "alice: the stored session opens with none of the configured keys", "put the old key back")
    r = await otobot("creds", "rotate-key", "-c", str(config), env={"OTOBOT_MASTER_KEY": f"{other},{KEY}"})
    assert r.code == 0 and "re-encrypted 1 stored session" in r.out, r.err
