"""CLI conventions as a process: -c anywhere, the config search, --version, --json, exit codes 0/1/2, no tracebacks."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from otobot.sim.server import Simulator
from otobot.store.db import Store
from tests.cli.clirun import REPO, clean_env, otobot, refused
from tests.helpers import wait_for, write_config

SIM_EXCHANGE = ("exchange: {rest_url: 'http://127.0.0.1:9', market_ws_url: 'ws://127.0.0.1:9/w3w/wsa/stream', "
                "user_ws_url: 'ws://127.0.0.1:9/w3w/stream'}\n")


async def offline_tree(root: Path, *, database: bool = True) -> Path:
    """otobot.yaml (exchange unreachable), users/alice.yaml, and an empty database made by the store itself."""
    (root / "users").mkdir(parents=True, exist_ok=True)
    (root / "users" / "alice.yaml").write_text("token: KOGE\n")
    (root / "otobot.yaml").write_text("control: {socket: otobot.sock}\n" + SIM_EXCHANGE)
    if database:
        store = await Store.open(root / "otobot.db")
        await store.close()
    return root / "otobot.yaml"


async def test_version() -> None:
    r = await otobot("--version")
    assert r.code == 0 and r.out.startswith("otobot 0.1.0"), r.err


@pytest.mark.parametrize("where", ["before", "after", "creds_before_action", "creds_after_action", "top_of_creds"])
async def test_config_is_accepted_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    c = str(await offline_tree(tmp_path))
    argv = {"before": ["-c", c, "status"], "after": ["status", "-c", c],
            "creds_before_action": ["creds", "-c", c, "check", "alice"],
            "creds_after_action": ["creds", "check", "alice", "--config", c],
            "top_of_creds": ["-c", c, "creds", "check", "alice"]}[where]
    r = await otobot(*argv)
    assert "Traceback" not in r.err
    if argv[0] == "creds" or argv[2] == "creds":
        # alice's session is neither inline nor stored: the answer is about her, so the config was found.
        assert r.code == 1 and "alice: no session" in r.out and "no stored session" in r.out, r.out + r.err
    else:
        assert r.code == 0 and "daemon: not running" in r.out and "alice" in r.out, r.err


async def test_the_default_config_is_searched_and_the_message_lists_what_was_tried(tmp_path: Path) -> None:
    refused(await otobot("status", cwd=tmp_path), 1, "no config file found", "$OTOBOT_CONFIG (not set)",
            "./config/otobot.yaml", "/etc/otobot/otobot.yaml", "-c FILE")
    await offline_tree(tmp_path / "config")
    r = await otobot("status", cwd=tmp_path)
    assert r.code == 0 and "alice" in r.out, r.err
    # $OTOBOT_CONFIG comes first, even when ./config/otobot.yaml exists.
    other = tmp_path / "elsewhere"
    await offline_tree(other)
    (other / "users" / "zed.yaml").write_text("token: KOGE\n")
    r = await otobot("status", cwd=tmp_path, env={"OTOBOT_CONFIG": str(other / "otobot.yaml")})
    assert r.code == 0 and "zed" in r.out, r.err


@pytest.mark.parametrize("since", ["yesterday", "today", "2h", "30m", "1d", "2026-11-25", "2026-11-25T10:00",
                                   "2026-11-25T10:00+02:00", "1764000000000"])
async def test_orders_since_accepts_dates_and_relative_times(tmp_path: Path, since: str) -> None:
    r = await otobot("orders", "alice", "--since", since, "--until", "now", "-c", str(await offline_tree(tmp_path)))
    assert r.code == 0 and "no orders for alice" in r.out, r.err


@pytest.mark.parametrize(("argv", "words"), [
    (["orders", "alice", "--since", "last tuesday"], ("argument --since", "'last tuesday' is not a time",
                                                      "yesterday", "2h")),
    (["orders", "alice", "--since", "99999999d"], ("argument --since", "too far")),
    (["orders", "alice", "--status", "BOGUS"], ("argument --status", "'BOGUS' is not an order status", "FILLED")),
    (["orders", "alice", "--limit", "0"], ("argument --limit", "must be at least 1")),
    (["orders"], ("the following arguments are required: user",)),
    (["stats", "../../etc/x"], ("is not a user name",)),
    (["frobnicate"], ("invalid choice: 'frobnicate'",)),
    (["ctl", "pause"], ("otobot ctl pause: which user?",)),
])
async def test_usage_errors_exit_2_with_the_reason(tmp_path: Path, argv: list[str], words: tuple[str, ...]) -> None:
    refused(await otobot(*argv, "-c", str(await offline_tree(tmp_path))), 2, *words)


async def test_orders_status_is_read_in_any_case(tmp_path: Path) -> None:
    r = await otobot("orders", "alice", "--status", "filled", "-c", str(await offline_tree(tmp_path)))
    assert r.code == 0 and "no orders for alice" in r.out, r.err


async def test_stats_and_orders_for_an_unknown_user_are_errors(tmp_path: Path) -> None:
    c = str(await offline_tree(tmp_path))
    for argv in (["stats", "nobody"], ["orders", "nobody"], ["balance", "nobody"]):
        refused(await otobot(*argv, "-c", c), 1, "no user 'nobody'", "nobody.yaml", "the users are: alice")


async def test_json_output_of_status_stats_and_orders(tmp_path: Path) -> None:
    c = str(await offline_tree(tmp_path))
    r = await otobot("status", "--json", "-c", c)
    assert r.code == 0, r.err
    status = json.loads(r.out)
    assert status["daemon"].startswith("not running") and [u["user"] for u in status["users"]] == ["alice"]
    r = await otobot("stats", "alice", "--json", "-c", c)
    assert r.code == 0 and json.loads(r.out)["user"] == "alice" and json.loads(r.out)["cycles"] == 0, r.err
    r = await otobot("orders", "alice", "--json", "-c", c)
    assert r.code == 0 and json.loads(r.out) == [], r.err


async def test_balance_and_tokens_as_json_against_the_simulator(tmp_path: Path, sim: Simulator) -> None:
    config = str(write_config(tmp_path, sim, {"alice": {}}))
    r = await otobot("balance", "alice", "--json", "-c", config)
    assert r.code == 0, r.err
    balance = json.loads(r.out)
    assert balance["user"] == "alice" and balance["balances"][0]["asset"] == "USDT"
    assert float(balance["balances"][0]["free"]) > 0 and "exchange_volume" in balance["today"]
    r = await otobot("tokens", "--json", "--refresh", "-c", config)
    assert r.code == 0, r.err
    assert {"KOGE"} <= {t["symbol"] for t in json.loads(r.out)}


async def test_balance_without_the_master_key_says_how_to_set_it(tmp_path: Path) -> None:
    c = await offline_tree(tmp_path)
    store = await Store.open(tmp_path / "otobot.db")
    await store.save_credentials("alice", Fernet(Fernet.generate_key()).encrypt(b"{}"), 1)
    await store.close()
    refused(await otobot("balance", "alice", "-c", str(c)), 1, "no master key is configured", "OTOBOT_MASTER_KEY")
    refused(await otobot("balance", "alice", "-c", str(c), env={"OTOBOT_MASTER_KEY": Fernet.generate_key().decode()}),
            1, "cannot be opened with the configured master key")


async def test_a_damaged_database_is_named_at_once_never_a_hang(tmp_path: Path) -> None:
    c = str(await offline_tree(tmp_path, database=False))
    (tmp_path / "otobot.db").write_bytes(b"\x00not sqlite\x01" * 300)
    for argv in (["status"], ["stats", "alice"], ["orders", "alice"], ["tokens"]):
        r = await otobot(*argv, "-c", c, timeout=20)
        refused(r, 1, "cannot open the database", "restore the last backup")


async def test_a_read_command_does_not_create_the_database(tmp_path: Path) -> None:
    c = str(await offline_tree(tmp_path, database=False))
    r = await otobot("status", "-c", c)
    assert r.code == 0 and "alice" in r.out, r.err
    r = await otobot("stats", "alice", "-c", c)
    assert r.code == 0 and r.out.split("\n")[1].split()[:2] == ["alice", "0"], r.err
    assert not (tmp_path / "otobot.db").exists()


async def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    c = str(await offline_tree(tmp_path, database=False))
    # A SQLite file of another program: nothing otobot anticipates, so it reaches the last-resort guard.
    con = sqlite3.connect(tmp_path / "otobot.db")
    con.execute("CREATE TABLE meta(key TEXT, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('schema_version', 'banana')")
    con.commit()
    con.close()
    r = refused(await otobot("status", "-c", c, timeout=20), 1, "otobot: internal error: ValueError",
                "run with --debug for the traceback")
    assert len(r.strip().splitlines()) == 1
    r2 = await otobot("status", "--debug", "-c", c, timeout=20)
    assert r2.code == 1 and "Traceback (most recent call last)" in r2.err


async def test_sim_on_a_busy_port_says_so(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        refused(await otobot("sim", "--port", str(port), cwd=tmp_path), 1, f"port {port}", "already in use", "--port")
    finally:
        busy.close()


async def test_ctl_without_a_daemon_says_it_is_not_running(tmp_path: Path) -> None:
    refused(await otobot("ctl", "status", "-c", str(await offline_tree(tmp_path))), 1, "the daemon is not running",
            "otobot.sock")


async def test_ctl_speaks_human_by_default_json_on_request_and_reload_fails_on_a_rejected_file(
        tmp_path: Path, sim: Simulator) -> None:
    config = write_config(tmp_path, sim, {"alice": {"target": {"value": 10**6}, "pause_between_cycles_s": 0.5}})
    c = str(config)
    log = (tmp_path / "daemon.log").open("wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "otobot", "run", "-c", c, cwd=REPO,
                                                env=clean_env(), stdout=log, stderr=log)
    try:
        await wait_for(lambda: (tmp_path / "otobot.sock").exists(), 30, "the control socket")
        r = await otobot("ctl", "status", "-c", c)
        assert r.code == 0 and r.out.splitlines()[0].split()[:3] == ["user", "state", "paused"], r.out + r.err
        assert "alice" in r.out and "{" not in r.out
        r = await otobot("ctl", "status", "--json", "-c", c)
        assert r.code == 0 and json.loads(r.out)["users"][0]["user"] == "alice", r.err
        r = await otobot("ctl", "reload", "-c", c)
        assert r.code == 0 and r.out.startswith("reloaded; "), r.out + r.err
        (tmp_path / "users" / "bob.yaml").write_text("token: KOGE\npricing: {sell_offset: 0}\n")
        r = await otobot("ctl", "reload", "-c", c)
        refused(r, 1, "bob.yaml: key 'pricing.sell_offset' = 0", "must be > 0")
        assert "rejected" in r.out and "bob" in r.out
        r = await otobot("ctl", "pause", "alice", "-c", c)
        assert r.code == 0 and r.out.startswith("alice: paused; "), r.out + r.err
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


async def test_bench_shows_progress_on_stderr(tmp_path: Path) -> None:
    r = await otobot("bench", "--users", "1", "--duration", "4", cwd=tmp_path, timeout=120)
    assert r.code == 0, r.err[-2000:]
    progress = [line for line in r.err.splitlines() if line.startswith("bench: ")]
    assert progress[0].startswith("bench: starting the simulator and 1 users")
    assert any("users connected" in line for line in progress)
    assert any(line.endswith(" cycles") and "/4 s" in line for line in progress)
    assert "reaction" in r.out  # the results stay on stdout
