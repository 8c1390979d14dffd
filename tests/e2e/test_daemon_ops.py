"""`otobot run` at the edges, as a real subprocess: a second daemon, start-up failures, broken user files, a wrong
master key, an unreachable exchange. Each ends in an exit code and one clear line, never a hang or a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from otobot.daemon import eventloop
from otobot.ops.secrets import Keyring, encrypt_credentials
from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.e2e.test_process import REPO, daemon, db_cycles
from tests.helpers import FAST_USER, wait_for, write_config, write_user

NO_HANG_S = 20.0  # a start-up failure answers in well under a second; this bound only catches a hang


async def otobot(*args: str, env: dict[str, str] | None = None, timeout: float = NO_HANG_S) -> tuple[int, str, str]:
    """Run `python -m otobot ARGS` to completion: (exit code, stdout, stderr); a hang fails the test."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", *args, cwd=REPO,
                                                env={**os.environ, **(env or {})},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`otobot {' '.join(args)}` still running after {timeout} s: it hangs") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def offline_config(root: Path, **control: Any) -> Path:
    """otobot.yaml + one valid user, the exchange on a closed port: start-up failures happen before any trading."""
    (root / "users").mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{closed_port()}"
    cfg = {"database": "otobot.db", "users_dir": "users", "control": {"socket": "otobot.sock", **control},
           "exchange": {"rest_url": url, "market_ws_url": url.replace("http", "ws"),
                        "user_ws_url": url.replace("http", "ws")}}
    (root / "otobot.yaml").write_text(yaml.safe_dump(cfg))
    user = {**FAST_USER, "credentials": {"source": "inline", "cookie": "p20t=web.1.abcdefgh", "csrftoken": "c" * 32}}
    (root / "users" / "alice.yaml").write_text(yaml.safe_dump(user))
    return root / "otobot.yaml"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def truncated_database(db: Path) -> None:
    store = await Store.open(db)
    await store.ensure_user("alice", 1)
    await store.close()
    with db.open("r+b") as f:
        f.truncate(4096)


# ------------------------------------------------------------------ 1. one daemon per database


async def test_a_second_daemon_on_the_same_database_exits_1_at_once_naming_the_pid(sim: Simulator,
                                                                                  tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}})
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with daemon(config, log) as first:
        await wait_for(lambda: db_cycles(db, "alice"), 30, "the first daemon trading")

        began = time.monotonic()
        code, _out, err = await otobot("run", "-c", str(config))

        assert time.monotonic() - began < 5
        assert code == 1
        assert one_clear_line(err).endswith(f"otobot cannot start: another otobot (pid {first.pid}) holds {db}; "
                                            "stop it first (systemctl stop otobot)")
        assert (tmp_path / "otobot.sock").exists()  # the refused one left the first one's socket alone
        before = await db_cycles(db, "alice")
        await wait_for(lambda: _more(db, before), 30, "the first daemon still trading")
        first.send_signal(signal.SIGKILL)
        await first.wait()
    # kill -9 leaves the lock file behind, but not the lock: the next daemon starts.
    async with daemon(config, log) as again:
        await wait_for(lambda: log.read_text().count("otobot started") == 2, 20, "a restart after kill -9")
        again.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(again.wait(), 15) == 0


async def _more(db: Path, than: int) -> bool:
    return await db_cycles(db, "alice") > than


# ------------------------------------------------------------------ 2. no hang on any start-up failure


@contextlib.contextmanager
def listening_unix_socket(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        s.listen()
        yield


async def test_a_control_socket_another_daemon_listens_on_exits_1(tmp_path: Path) -> None:
    """Another daemon (another database) on the same socket path: refused, and its socket left in place."""
    sock = Path(tempfile.mkdtemp(prefix="otb", dir="/tmp")) / "ctl.sock"  # short: tmp_path can pass 107 bytes
    config = offline_config(tmp_path, socket=str(sock))
    with listening_unix_socket(sock):
        code, _out, err = await otobot("run", "-c", str(config))

        assert code == 1
        assert f"otobot cannot start: another otobot is running (its control socket {sock} accepts " \
               "connections); stop it first" in one_clear_line(err)
        assert sock.exists()


async def test_a_health_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = offline_config(tmp_path, health_port=port)

        code, _out, err = await otobot("run", "-c", str(config))

    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port} for the health endpoint: address already in use; " \
           "if another program holds that port, set a free control.health_port" in one_clear_line(err)
    assert not (tmp_path / "otobot.sock").exists()  # the socket it had opened was closed on the way out


async def test_a_control_socket_path_too_long_exits_1(tmp_path: Path) -> None:
    config = offline_config(tmp_path, socket="s" * 120 + ".sock")

    code, _out, err = await otobot("run", "-c", str(config))

    assert code == 1
    assert "longer than the 107 a Unix socket allows; set control.socket in otobot.yaml" in one_clear_line(err)


@pytest.mark.parametrize("damage", ["truncated", "not a database"])
async def test_a_damaged_database_exits_1_and_status_does_not_hang(tmp_path: Path, damage: str) -> None:
    config = offline_config(tmp_path)
    db = tmp_path / "otobot.db"
    if damage == "truncated":
        await truncated_database(db)
    else:
        db.write_bytes(b"these are somebody's notes, not SQLite\n" * 200)

    code, _out, err = await otobot("run", "-c", str(config))

    assert code == 1
    line = one_clear_line(err)
    assert f"otobot cannot start: cannot open the database {db}: " in line
    assert "move it aside and restore the last backup" in line

    code, _out, err = await otobot("status", "-c", str(config))

    assert code == 1
    assert f"cannot open the database {db}" in one_clear_line(err)


async def test_an_otobot_yaml_that_is_not_utf8_exits_2_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "otobot.yaml"
    config.write_bytes(b"database: otobot.db\n# caf\xe9\n")

    code, _out, err = await otobot("run", "-c", str(config))

    assert code == 2
    assert one_clear_line(err).endswith(f"otobot cannot start: {config}: line 2, column 6: byte 0xe9 is not "
                                        "UTF-8 text; save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")


# ------------------------------------------------------------------ 3. broken user files, sd_notify order


class Systemd:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET, collecting what the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.messages.append((await loop.sock_recv(self.sock, 4096)).decode())

    def states(self) -> list[str]:
        """READY/RELOADING/STOPPING in order (STATUS= and WATCHDOG= left out)."""
        return [m.split("\n")[0] for m in self.messages if m.split("=")[0] in ("READY", "RELOADING", "STOPPING")]


@contextlib.asynccontextmanager
async def systemd() -> AsyncIterator[Systemd]:
    with tempfile.TemporaryDirectory(prefix="otsd", dir="/tmp") as d:
        sd = Systemd(Path(d) / "notify.sock")
        task = asyncio.create_task(sd.collect())
        try:
            yield sd
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sd.sock.close()


async def test_a_non_utf8_user_file_is_skipped_and_every_reloading_is_followed_by_ready(sim: Simulator,
                                                                                       tmp_path: Path) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}})
    (tmp_path / "users" / "bob.yaml").write_bytes(b"token: KOGE\nnote: caf\xe9\n")  # Latin-1, not UTF-8
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    async with systemd() as sd, daemon(config, log, env={"NOTIFY_SOCKET": str(sd.path)}) as proc:
        await wait_for(lambda: db_cycles(db, "alice"), 30, "alice trading beside the broken file")
        status = "STATUS=1 user: 1 trading; 1 user file rejected (see the log)"
        await wait_for(lambda: status in sd.messages, 10, "STATUS= sent")
        assert sd.states() == ["READY=1"]  # the initial load sent no RELOADING=1 before it
        rejected = [line for line in log.read_text().splitlines() if "bob.yaml" in line]
        assert len(rejected) == 1 and " ERROR " in rejected[0]
        assert rejected[0].endswith(f"User file rejected: {tmp_path / 'users' / 'bob.yaml'}: line 2, column 10: "
                                    "byte 0xe9 is not UTF-8 text; save the file as UTF-8 "
                                    "(e.g. `iconv -f latin1 -t utf-8`)")

        # A SIGHUP with the file still broken, and a second one with a new user: both reload to READY.
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: sd.states() == ["READY=1", "RELOADING=1", "READY=1"], 20, "the first reload")
        write_user(tmp_path, sim, "carol", {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2})
        proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: sd.states()[3:] == ["RELOADING=1", "READY=1"], 20, "the second reload")
        await wait_for(lambda: db_cycles(db, "carol"), 30, "carol trading after the reload")

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        await wait_for(lambda: sd.states()[-1:] == ["STOPPING=1"], 5, "STOPPING=1")
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(("key", "error", "fix", "state"), [
    ("another key", "stored credentials cannot be opened with the configured master key",
     "or import the session again with `otobot creds import alice`", "not started (wrong master key)"),
    ("none", "the stored session is encrypted and no master key is configured: set OTOBOT_MASTER_KEY",
     "generate one with `otobot creds gen-key PATH`", "not started (no usable master key)"),
])
async def test_a_master_key_problem_is_an_error_naming_the_user_and_status_shows_it(
        sim: Simulator, tmp_path: Path, key: str, error: str, fix: str, state: str) -> None:
    config = write_config(tmp_path, sim, {"bob": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.2}})
    (tmp_path / "users" / "alice.yaml").write_text(yaml.safe_dump(FAST_USER))  # credentials: from the store
    db, log = tmp_path / "otobot.db", tmp_path / "daemon.log"
    store = await Store.open(db)
    await store.save_credentials("alice", encrypt_credentials(Keyring([Fernet.generate_key()]),
                                                               sim.credentials("alice")), 1)
    await store.close()
    env = {"OTOBOT_MASTER_KEY": Fernet.generate_key().decode() if key == "another key" else ""}
    async with daemon(config, log, env=env) as proc:
        await wait_for(lambda: db_cycles(db, "bob"), 30, "bob trading")
        await wait_for(lambda: "alice: not started" in log.read_text(), 10, "alice's error")
        (line,) = [line for line in log.read_text().splitlines() if "alice: not started" in line]
        assert " ERROR " in line and error in line and line.endswith(fix)

        code, out, err = await otobot("status", "-c", str(config), env=env)

        assert code == 0, err
        (alice,) = [row for row in out.splitlines() if row.startswith("alice")]
        assert state in alice
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


# ------------------------------------------------------------------ 4. + 5. an unreachable exchange, on the journal


async def test_an_unreachable_exchange_is_one_warning_line_per_retry_with_journal_priorities(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    url = yaml.safe_load(config.read_text())["exchange"]["rest_url"]
    log = tmp_path / "daemon.log"
    log.touch()
    st = os.stat(log)  # the daemon's stderr is this file: to it, that is the journal
    async with daemon(config, log, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}) as proc:
        await wait_for(lambda: log.read_text().count("cannot reach the exchange") >= 2, 30, "two retries")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    lines = log.read_text().splitlines()
    retries = [line for line in lines if "cannot reach the exchange" in line]
    pattern = re.escape(f"<4>WARNING [alice#-] alice: cannot reach the exchange at {url}: connection refused; "
                        "retrying in ") + r"\d+ s"
    assert all(re.fullmatch(pattern, line) for line in retries), retries
    assert all(re.match(r"<[2-7]>", line) for line in lines), lines  # every line is a whole entry
    assert lines[0].startswith("<6>INFO    [-#-] otobot started")
    # The test extra installs uvloop, as `fast` does: the daemon runs on it and says so.
    assert lines[0].endswith(f"event loop {eventloop.choose(os.environ)}")
    assert "Traceback" not in log.read_text() and "Bot crashed" not in log.read_text()
