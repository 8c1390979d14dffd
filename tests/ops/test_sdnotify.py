"""sd_notify datagrams, read back from a real AF_UNIX socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otobot.daemon.run import _report_status
from otobot.ops.sdnotify import SdNotifier, status_text


@pytest.fixture
def systemd_socket() -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket in a short temporary dir (sun_path holds 108 bytes; pytest's tmp_path can be longer)."""
    with tempfile.TemporaryDirectory(prefix="otsd", dir="/tmp") as d:
        path = str(Path(d) / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(1.0)
        yield path, sock
        sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_stopping_watchdog_and_status_reach_the_socket(systemd_socket: tuple[str, socket.socket]) -> None:
    path, sock = systemd_socket
    sd = SdNotifier({"NOTIFY_SOCKET": path})

    assert sd.enabled
    assert sd.ready() and received(sock) == "READY=1"
    assert sd.watchdog() and received(sock) == "WATCHDOG=1"
    assert sd.status("3 users trading\n1 paused") and received(sock) == "STATUS=3 users trading 1 paused"
    assert sd.status("3 users trading\n1 paused") is False  # unchanged: not sent again
    assert sd.stopping() and received(sock) == "STOPPING=1"
    assert sd.notify("EXTEND_TIMEOUT_USEC=5000000") and received(sock) == "EXTEND_TIMEOUT_USEC=5000000"


def test_reloading_carries_the_monotonic_timestamp_notify_reload_requires(
        systemd_socket: tuple[str, socket.socket]) -> None:
    path, sock = systemd_socket
    sd = SdNotifier({"NOTIFY_SOCKET": path})
    assert sd.ready() and received(sock) == "READY=1"
    before = time.monotonic_ns() // 1000

    assert sd.reloading()

    first, second = received(sock).split("\n")
    assert first == "RELOADING=1"
    name, value = second.split("=")
    assert name == "MONOTONIC_USEC"
    assert before <= int(value) <= time.monotonic_ns() // 1000


def test_abstract_socket_address_with_at_sign() -> None:
    name = f"otobot-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(1.0)

        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()

        assert received(sock) == "READY=1"


def test_without_notify_socket_everything_is_a_quiet_no_op() -> None:
    sd = SdNotifier({})

    assert not sd.enabled
    assert sd.ready() is False and sd.reloading() is False and sd.watchdog() is False
    assert sd.watchdog_interval_s() is None


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    sd = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})

    assert sd.ready() is False


@pytest.mark.parametrize(("env", "interval"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # the watchdog is another process's
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_ping_period_is_half_the_timeout(env: dict[str, str], interval: float | None) -> None:
    assert SdNotifier({"NOTIFY_SOCKET": "/run/systemd/notify", **env}).watchdog_interval_s() == interval


def test_no_reloading_before_the_first_ready(systemd_socket: tuple[str, socket.socket]) -> None:
    """systemd takes RELOADING=1 during start-up as the unit's start failing; the first load is start-up."""
    path, sock = systemd_socket
    sd = SdNotifier({"NOTIFY_SOCKET": path})

    assert sd.reloading() is False
    assert sd.ready()
    assert received(sock) == "READY=1"  # the first datagram: nothing went out before it
    assert sd.reloading() and received(sock).startswith("RELOADING=1\n")


def _row(state: str, paused: str | None = None) -> dict[str, str | None]:
    return {"user": "u", "state": state, "paused": paused}


@pytest.mark.parametrize(("rows", "text"), [
    ([], "0 users"),
    ([_row("idle")], "1 user: 1 trading"),
    ([_row("pending"), _row("selling"), _row("paused", "auth_expired")], "3 users: 2 trading, 1 paused auth_expired"),
    ([_row("paused", "balance"), _row("paused", "balance"), _row("finished"), _row("not started (wrong master key)")],
     "4 users: 2 paused balance, 1 done for today, 1 not started"),
    ([_row("starting"), _row("idle")], "2 users: 1 starting, 1 trading"),
])
def test_status_text_counts_users_by_what_they_are_doing(rows: list[dict[str, str | None]], text: str) -> None:
    assert status_text(rows) == text


def test_status_text_says_how_many_user_files_were_rejected() -> None:
    assert status_text([_row("idle")], 1) == "1 user: 1 trading; 1 user file rejected (see the log)"
    assert status_text([], 2) == "0 users; 2 user files rejected (see the log)"


async def test_the_status_line_says_when_telegram_commands_fail(systemd_socket: tuple[str, socket.socket]) -> None:
    path, sock = systemd_socket

    class Control:
        async def status(self) -> dict[str, Any]:
            return {"users": [_row("idle")], "file_errors": {},
                    "telegram": {"ok": False, "problem": "Telegram getUpdates answered HTTP 401 \"Unauthorized\": the "
                                                         "bot token was refused"}}

    task = asyncio.create_task(_report_status(SdNotifier({"NOTIFY_SOCKET": path}), Control(), every_s=0.05))  # type: ignore[arg-type]
    try:
        line = await asyncio.to_thread(received, sock)
    finally:
        task.cancel()
    assert line == ("STATUS=1 user: 1 trading; Telegram commands failing: Telegram getUpdates answered HTTP 401 "
                    "\"Unauthorized\": the bot token was refused")
